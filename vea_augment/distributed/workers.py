"""What every actor does on start, whatever it runs: pin its CPU threads and name itself."""

from __future__ import annotations

import os
import platform

import ray


def worker_name() -> str:
    """``host:node-<id>:pid-<pid>``: where a shard was processed, for the statistics."""
    node = ray.get_runtime_context().get_node_id()[:12]
    return f"{platform.node()}:node-{node}:pid-{os.getpid()}"


def pin_torch_threads(threads: int) -> None:
    """Let torch use ``threads`` CPU threads (at least one): the CPUs Ray gave this actor.

    Torch's default (every core) makes actors sharing a machine slow each other down.
    """
    import torch

    torch.set_num_threads(max(1, threads))
