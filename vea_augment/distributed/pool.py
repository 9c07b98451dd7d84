"""Running a list of shard work items on a fresh pool of model actors, with a progress bar.

The one place that joins Ray, sizes the pool, names the actors, shows progress and tears
everything down again; the augment and answer jobs differ only in the actor and the work.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ray
from tqdm import tqdm

from vea_augment.distributed.cluster import ActorPlan, connect, plan_actors
from vea_augment.distributed.interrupt import interruptible
from vea_augment.distributed.progress import POLL_SECONDS, PoolProgress
from vea_augment.distributed.scheduler import ActorPool, ShardOutcome, ShardWork, run_shards
from vea_augment.options import ACTOR_EXIT_WAIT_S, GPUS_PER_ACTOR, MAX_SHARD_ATTEMPTS


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
class Units:
    """What the progress bar counts (``name``, e.g. "sample"): each work item's ``size``
    (None: not known before it is done) and the units a finished item's statistics hold.

    With units, the actor's method is called as ``method(item, reporter)`` and calls
    ``reporter(n)`` after each batch of ``n`` units.
    """

    name: str
    size: Callable[[ShardWork], int | None]
    done: Callable[[dict[str, Any]], int]


@dataclass(frozen=True)
class PoolResult:
    """The plan that ran, how many actors had to be replaced and the units counted."""

    plan: ActorPlan
    restarts: int
    units_done: int = 0


def estimated_total(sizes: Sequence[int | None], learned: dict[int, int]) -> int | None:
    """The bar's total: the known sizes, plus for items of unknown size (a tar's sample count)
    the size they turned out to have once done, and the mean of those for the rest.

    ``learned`` maps an item's index to its size once done. None while nothing is known of
    the unknown ones, so the bar shows a count and a rate but no ETA until the first ends.
    """
    known = sum(size for size in sizes if size is not None)
    unknown = [index for index, size in enumerate(sizes) if size is None]
    if not unknown:
        return known
    seen = [learned[index] for index in unknown if index in learned]
    if not seen:
        return None
    return known + sum(seen) + round(sum(seen) / len(seen) * (len(unknown) - len(seen)))


class _BarWatcher:
    """Feeds the actors' batch reports and the shards' ends into the bar."""

    def __init__(self, bar: tqdm, units: Units, sizes: Sequence[int | None]) -> None:
        self.bar, self.units, self.progress = bar, units, PoolProgress()
        self.sizes, self.learned = list(sizes), {}

    def start(self, key: int, attempt: int) -> Any:
        return self.progress.start(key, attempt)

    def abandon(self, key: int, attempt: int) -> None:
        self.progress.poll()
        self.progress.tracker.abandon(key, attempt)
        self._show()

    def finish(self, key: int, attempt: int, stats: dict[str, Any]) -> None:
        self.progress.poll()
        done = self.units.done(stats)
        self.progress.tracker.finish(key, attempt, done)
        if self.sizes[key] is None:
            self.learned[key] = done
            self.bar.total = estimated_total(self.sizes, self.learned)
            self.bar.refresh()
        self._show()

    def tick(self) -> None:
        self.progress.poll()
        self._show()

    def _show(self) -> None:
        self.bar.update(self.progress.tracker.done - self.bar.n)


def distribute(
    request: PoolRequest,
    work: Sequence[ShardWork],
    is_committed: Callable[[ShardWork], dict[str, Any] | None],
    on_done: Callable[[ShardOutcome], dict[str, Any]],
    label: str,
    show_progress: bool = True,
    units: Units | None = None,
) -> PoolResult:
    """Run ``request.method(item)`` for every item on a pool of actors, then shut it down.

    ``on_done`` handles one finished item and returns the progress bar's postfix fields
    (shards done and failed are added). The bar counts ``units`` across all actors as they
    report them, or else shards. Ray is started locally (and stopped afterwards) unless
    already running or an address is given. SIGINT/SIGTERM raise
    :class:`~vea_augment.distributed.interrupt.JobInterrupted` after the actors are killed.
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
        sizes = [units.size(item) if units else 1 for item in work]
        bar = tqdm(
            total=None if None in sizes else sum(s or 0 for s in sizes),
            unit=units.name if units else "shard",
            disable=not show_progress,
            desc=f"{label} ({plan.describe()})",
        )
        watcher = _BarWatcher(bar, units, sizes) if units else None
        ended = Counter[str]()

        def finished(outcome: ShardOutcome) -> None:
            ended["done" if outcome.stats is not None else "failed"] += 1
            shards = {"shards": f"{ended['done']}/{len(work)}", "failed": ended["failed"]}
            bar.set_postfix(**shards, **on_done(outcome))
            if watcher is None:
                bar.update(1)

        completed = False
        try:
            with interruptible():
                run_shards(
                    pool,
                    list(work),
                    is_committed,
                    finished,
                    placement.max_attempts,
                    watcher,
                    POLL_SECONDS,
                )
            completed = True
        finally:
            bar.close()
            # Cut short (a signal, an error): wait for the actors to be gone, so none is
            # still writing when the job removes temporary files.
            pool.shutdown(wait_s=0.0 if completed else ACTOR_EXIT_WAIT_S)
            if watcher is not None:
                watcher.progress.close()
        done = watcher.progress.tracker.done if watcher else ended["done"]
        return PoolResult(plan, pool.replaced, done)
    finally:
        if started_ray:
            ray.shutdown()
