"""What every model actor does on start: pin its threads, pick its device, load, name itself."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from typing import Any

import ray


@dataclass(frozen=True)
class ModelSpec:
    """Which model an actor loads, and how."""

    model: str
    layers: tuple[int, ...]
    dtype: str = "auto"
    device: str | None = None
    trust_remote_code: bool = False


def worker_name() -> str:
    """``host:node-<id>:pid-<pid>``: where a shard was processed, for the statistics."""
    node = ray.get_runtime_context().get_node_id()[:12]
    return f"{platform.node()}:node-{node}:pid-{os.getpid()}"


def load_attributor(spec: ModelSpec, torch_threads: int) -> Any:
    """The :class:`~vea_augment.attribution.attributor.Attributor` of ``spec`` on the actor's device
    (its GPU when Ray gave it one, else the CPU), using ``torch_threads`` CPU threads."""
    import torch

    from vea_augment.attribution.attributor import Attributor
    from vea_augment.models.loading import LoadOptions

    torch.set_num_threads(max(1, torch_threads))
    device = spec.device or ("cuda" if torch.cuda.is_available() else "cpu")
    options = LoadOptions(dtype=spec.dtype, device=device, trust_remote_code=spec.trust_remote_code)
    return Attributor.from_pretrained(spec.model, list(spec.layers), options)
