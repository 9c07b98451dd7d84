"""One module per command: plan the work, run the per-shard steps (on a Ray actor pool through
``distributed`` or in this process), write the outputs through ``data`` and ``reports``, and
return a summary."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from vea_augment.distributed.cluster import ActorPlan
from vea_augment.distributed.pool import Placement
from vea_augment.options import ModelOptions


@dataclass(frozen=True, kw_only=True)
class PoolJob(Placement):
    """A command run on an actor pool: what it reads, where it writes, where it runs."""

    input: str
    output: Path


def actor_loading(loading: ModelOptions, plan: ActorPlan) -> ModelOptions:
    """How an actor of ``plan`` loads its model: spread over its GPUs when it holds several."""
    return replace(loading, device_map="auto") if plan.num_gpus > 1 else loading
