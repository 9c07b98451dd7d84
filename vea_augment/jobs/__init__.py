"""One module per command: plan the work, run the per-shard steps (on a Ray actor pool through
``distributed`` or in this process), write the outputs through ``data`` and ``reports``, and
return a summary."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from vea_augment.data.store import is_url
from vea_augment.distributed.cluster import ActorPlan
from vea_augment.distributed.pool import Placement
from vea_augment.options import InputOptions, ModelOptions

#: How a model is loaded that never changes what it outputs (where it runs, the cache rule).
_PLACEMENT_ONLY = frozenset({"device", "device_map", "local_files_only"})


@dataclass(frozen=True, kw_only=True)
class PoolJob(Placement):
    """A command run on an actor pool: what it reads, where it writes, where it runs."""

    input: str
    output: Path


def actor_loading(loading: ModelOptions, plan: ActorPlan) -> ModelOptions:
    """How an actor of ``plan`` loads its model: spread over its GPUs when it holds several."""
    return replace(loading, device_map="auto") if plan.num_gpus > 1 else loading


def output_shaping_loading(loading: ModelOptions) -> dict[str, Any]:
    """The loading options a job identity records: all but where the model runs."""
    return {name: value for name, value in asdict(loading).items() if name not in _PLACEMENT_ONLY}


def absolute_input(source: str, reading: InputOptions) -> str:
    """``source`` as an absolute path (braces kept) unless it is a URL or a hub id."""
    if is_url(source) or reading.input_format == "hf":
        return source
    return os.path.abspath(os.path.expanduser(source))
