"""A shard-level work queue over a pool of Ray actors, exactly-once by our own commit.

Ray's own retries are not trusted for exactly-once output (an actor error can be raised even
when the task finished). Each shard is committed by the worker (temporary name, stats, then
rename); here a failed or killed actor's shard is simply queued again on a fresh actor, and
a shard whose final file exists counts as done whatever Ray said.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Protocol

import ray
from ray.exceptions import RayActorError, RayError, RayTaskError

_REASON_CHARS = 300
_EXIT_DETAIL = re.compile(r"Worker exit detail: (.*?)(?: Some common causes|$)", re.DOTALL)


def failure_reason(exc: BaseException) -> str:
    """What went wrong, without Ray's wrapper: a task's own exception (``OSError: [Errno 28]
    No space left on device``), or why its actor died (killed, out of memory, crashed)."""
    if isinstance(exc, RayTaskError) and exc.cause is not None and exc.cause is not exc:
        return failure_reason(exc.cause)
    if isinstance(exc, RayActorError):
        return _actor_reason(exc)
    if isinstance(exc, RayError):
        return f"{type(exc).__name__}: {_first_line(str(exc))}"
    return f"{type(exc).__name__}: {_first_line(str(exc)) or repr(exc)}"


def _actor_reason(exc: RayActorError) -> str:
    text = str(exc)
    lines = [line for line in text.splitlines() if line.strip()]
    if exc.actor_init_failed:
        # The creation task's traceback ends with the exception that stopped __init__.
        return f"actor failed to start: {_first_line(lines[-1]) if lines else text}"
    # The first line is Ray's generic sentence, then tab-indented facts, then the cause.
    cause = " ".join(line.strip() for line in lines[1:] if not line.startswith("\t"))
    detail = _EXIT_DETAIL.search(cause)
    if detail:
        cause = f"{cause[: detail.start()].strip()} {detail.group(1).strip()}".strip()
    return f"actor died: {(cause or _first_line(text))[:_REASON_CHARS]}"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:_REASON_CHARS] if text.strip() else ""


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

    def shutdown(self, wait_s: float = 0.0) -> None:
        """Kill every actor; with ``wait_s``, wait up to that long until each is gone (so
        none is still writing when the caller removes temporary files)."""
        for actor in self.actors:
            with suppress(Exception):  # already dead
                ray.kill(actor, no_restart=True)
        deadline = time.monotonic() + wait_s
        for actor in self.actors if wait_s > 0 else ():
            # A dead actor's calls fail at once; a dying one's fail when its process is gone.
            with suppress(Exception):
                ray.get(actor.__ray_ready__.remote(), timeout=max(0.1, deadline - time.monotonic()))


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
        except RayError as exc:  # any of Ray's: task error, actor died, OOM, object lost...
            outcome.stats = is_committed(outcome.task)
            if outcome.stats is None:
                outcome.errors.append(f"attempt {outcome.attempts}: {failure_reason(exc)}")
            # Only a task's own exception leaves its actor sound; anything else (a dead
            # actor, the memory monitor's kill, a lost result) gets a fresh one.
            if isinstance(exc, RayTaskError) and not isinstance(exc.cause, RayError):
                idle.append(actor)
            else:
                idle.append(pool.replace(actor))
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
