"""A shard-level work queue over a pool of Ray actors, exactly-once by our own commit.

Ray's own retries are not trusted for exactly-once output (an actor error can be raised even
when the task finished). Each shard is committed by the worker (temporary name, stats, then
rename); here a failed or killed actor's shard is simply queued again on a fresh actor, and
a shard whose final file exists counts as done whatever Ray said.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Protocol

import ray
from ray.exceptions import RayActorError, RayTaskError


class ShardWork(Protocol):
    """A unit of work handed to an actor: an input shard, plus whatever the job adds."""

    def describe(self) -> str: ...


@dataclass
class ShardOutcome:
    """How a shard ended: its statistics (a dict), or the errors of its failed attempts."""

    task: ShardWork
    stats: dict[str, Any] | None = None
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    key: int = 0


class AttemptWatcher(Protocol):
    """Follows each attempt (for progress): ``start`` returns an extra argument for the
    actor's method, ``tick`` is called while nothing finishes."""

    def start(self, key: int, attempt: int) -> Any: ...

    def abandon(self, key: int, attempt: int) -> None: ...

    def finish(self, key: int, attempt: int, stats: dict[str, Any]) -> None: ...

    def tick(self) -> None: ...


class ActorPool:
    """Runs ``method(task)`` on actors made by ``make_actor``, replacing dead ones."""

    def __init__(self, make_actor: Callable[[], Any], size: int, method: str) -> None:
        self._make_actor = make_actor
        self._method = method
        self.actors = [make_actor() for _ in range(size)]
        self.replaced = 0

    def submit(self, actor: Any, task: ShardWork, *extra: Any) -> ray.ObjectRef:
        return getattr(actor, self._method).remote(task, *extra)

    def replace(self, actor: Any) -> Any:
        """Kill ``actor`` (if it still lives) and put a fresh one in its place."""
        with suppress(Exception):  # already dead: nothing to kill
            ray.kill(actor, no_restart=True)
        fresh = self._make_actor()
        self.actors[self.actors.index(actor)] = fresh
        self.replaced += 1
        return fresh

    def shutdown(self) -> None:
        for actor in self.actors:
            with suppress(Exception):  # already dead
                ray.kill(actor, no_restart=True)


def run_shards(
    pool: ActorPool,
    tasks: list[ShardWork],
    is_committed: Callable[[ShardWork], dict[str, Any] | None],
    on_done: Callable[[ShardOutcome], None],
    max_attempts: int = 3,
    watcher: AttemptWatcher | None = None,
    poll_seconds: float = 0.5,
) -> list[ShardOutcome]:
    """Process every task on the pool; a failed attempt is retried on a fresh actor.

    ``is_committed(task)`` returns the shard's committed statistics if its output exists
    (then an actor error is ignored) or None. A ``watcher`` sees every attempt start, fail
    or finish, and ticks every ``poll_seconds`` while none ends. Returns one outcome per task.
    """
    queue: deque[ShardOutcome] = deque(
        ShardOutcome(task, key=key) for key, task in enumerate(tasks)
    )
    idle = list(pool.actors)
    running: dict[ray.ObjectRef, tuple[Any, ShardOutcome]] = {}
    finished: list[ShardOutcome] = []
    while queue or running:
        while queue and idle:
            actor, outcome = idle.pop(), queue.popleft()
            outcome.attempts += 1
            extra = () if watcher is None else (watcher.start(outcome.key, outcome.attempts),)
            running[pool.submit(actor, outcome.task, *extra)] = (actor, outcome)
        timeout = None if watcher is None else poll_seconds
        ready, _ = ray.wait(list(running), num_returns=1, timeout=timeout)
        if not ready:
            watcher.tick()  # type: ignore[union-attr]  # only a watcher sets a timeout
            continue
        actor, outcome = running.pop(ready[0])
        try:
            outcome.stats = ray.get(ready[0])
            idle.append(actor)
        except (RayActorError, RayTaskError) as exc:
            outcome.stats = is_committed(outcome.task)
            if outcome.stats is None:
                outcome.errors.append(
                    f"attempt {outcome.attempts}: {type(exc).__name__}: "
                    f"{str(exc).splitlines()[0][:300]}"
                )
            if isinstance(exc, RayActorError):
                idle.append(pool.replace(actor))
            else:
                idle.append(actor)
            if outcome.stats is None and watcher is not None:
                watcher.abandon(outcome.key, outcome.attempts)
            if outcome.stats is None and outcome.attempts < max_attempts:
                queue.append(outcome)
                continue
        if outcome.stats is not None and watcher is not None:
            watcher.finish(outcome.key, outcome.attempts, outcome.stats)
        finished.append(outcome)
        on_done(outcome)
    return finished
