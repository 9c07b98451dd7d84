"""Running a list of shard work items on a fresh pool of model actors, with a progress bar.

The one place that joins Ray, sizes the pool, names the actors, shows progress and tears
everything down again; the augment and answer jobs differ only in the actor and the work.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ray
from tqdm import tqdm

from vea_augment.distributed.cluster import ActorPlan, connect, plan_actors
from vea_augment.distributed.scheduler import ActorPool, ShardOutcome, ShardWork, run_shards
from vea_augment.options import GPUS_PER_ACTOR, MAX_SHARD_ATTEMPTS


@dataclass(frozen=True, kw_only=True)
class Placement:
    """Where a job's actors run: how many (default: one per ``gpus_per_actor`` GPUs, else
    one), how many GPUs each holds (above 1 the model is spread over them), on which cluster
    (default: a local one), and how many tries each work item gets."""

    num_actors: int | None = None
    gpus_per_actor: int = GPUS_PER_ACTOR
    address: str | None = None
    max_attempts: int = MAX_SHARD_ATTEMPTS


@dataclass(frozen=True)
class PoolRequest:
    """Which actor to start, where, and how to call it."""

    actor_class: Any
    arguments: Callable[[ActorPlan], tuple[Any, ...]]
    method: str
    name_prefix: str
    placement: Placement = field(default_factory=Placement)
    use_gpus: bool = True


@dataclass(frozen=True)
class PoolResult:
    """The plan that ran and how many actors had to be replaced."""

    plan: ActorPlan
    restarts: int


def distribute(
    request: PoolRequest,
    work: Sequence[ShardWork],
    is_committed: Callable[[ShardWork], dict[str, Any] | None],
    on_done: Callable[[ShardOutcome], dict[str, Any]],
    label: str,
    show_progress: bool = True,
) -> PoolResult:
    """Run ``request.method(item)`` for every item on a pool of actors, then shut it down.

    ``on_done`` handles one finished item and returns the progress bar's postfix fields.
    Ray is started locally (and stopped afterwards) unless already running or an address
    is given.
    """
    placement = request.placement
    started_ray = connect(placement.address)
    try:
        plan = plan_actors(
            placement.num_actors, len(work), request.use_gpus, placement.gpus_per_actor
        )
        options = {
            "num_cpus": plan.num_cpus,
            "num_gpus": plan.num_gpus,
            "scheduling_strategy": "SPREAD",
        }
        arguments = request.arguments(plan)
        pool = ActorPool(
            lambda: request.actor_class.options(
                name=f"{request.name_prefix}-{uuid.uuid4().hex[:12]}", **options
            ).remote(*arguments),
            plan.num_actors,
            request.method,
        )
        bar = tqdm(
            total=len(work),
            unit="shard",
            disable=not show_progress,
            desc=f"{label} ({plan.describe()})",
        )

        def finished(outcome: ShardOutcome) -> None:
            bar.set_postfix(**on_done(outcome))
            bar.update(1)

        try:
            run_shards(pool, list(work), is_committed, finished, placement.max_attempts)
        finally:
            bar.close()
            pool.shutdown()
        return PoolResult(plan, pool.replaced)
    finally:
        if started_ray:
            ray.shutdown()
