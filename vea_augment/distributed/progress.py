"""Progress in units (samples, predictions) across every actor of a pool, batch by batch.

Actors report ``(work item, attempt, n)`` each time they finish a batch, fire-and-forget, to
one small :class:`ProgressCounter` actor; the driver drains it while it waits for shards and
feeds a :class:`UnitTracker`. The tracker counts each finished item once (by the units the
job says it holds) plus what the current attempt of each running item has reported so far;
a failed attempt's reports are dropped, and late reports of an ended attempt are ignored,
so a retried shard never counts twice.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

import ray

#: How often (seconds) the driver drains the counter while no shard finishes.
POLL_SECONDS = 0.5


class UnitTracker:
    """Units done: finished items' final counts plus running items' current attempts."""

    def __init__(self) -> None:
        self._running: dict[Hashable, tuple[int, int]] = {}
        self._final: dict[Hashable, int] = {}

    def start(self, key: Hashable, attempt: int) -> None:
        """Attempt ``attempt`` of ``key`` begins with nothing done (earlier ones are void)."""
        self._final.pop(key, None)
        self._running[key] = (attempt, 0)

    def report(self, key: Hashable, attempt: int, n: int) -> None:
        """``n`` more units of ``key`` done by ``attempt``; ignored unless it is current."""
        current = self._running.get(key)
        if current is not None and current[0] == attempt:
            self._running[key] = (attempt, current[1] + n)

    def abandon(self, key: Hashable, attempt: int) -> None:
        """``attempt`` of ``key`` failed: what it reported no longer counts."""
        if self._running.get(key, (None, 0))[0] == attempt:
            del self._running[key]

    def finish(self, key: Hashable, attempt: int, units: int | None = None) -> None:
        """``key`` is done: it counts ``units`` (default: what ``attempt`` reported)."""
        current = self._running.pop(key, (attempt, 0))
        reported = current[1] if current[0] == attempt else 0
        self._final[key] = reported if units is None else units

    @property
    def done(self) -> int:
        return sum(self._final.values()) + sum(n for _, n in self._running.values())


@ray.remote(num_cpus=0)
class ProgressCounter:
    """Collects the actors' reports until the driver drains them."""

    def __init__(self) -> None:
        self._reports: list[tuple[Any, int, int]] = []

    def report(self, key: Any, attempt: int, n: int) -> None:
        self._reports.append((key, attempt, n))

    def drain(self) -> list[tuple[Any, int, int]]:
        reports, self._reports = self._reports, []
        return reports


@dataclass(frozen=True)
class UnitReporter:
    """The callable an actor gets with its work item: ``reporter(n)`` after each batch."""

    counter: Any
    key: Any
    attempt: int

    def __call__(self, n: int) -> None:
        if n:
            self.counter.report.remote(self.key, self.attempt, n)


def apply_reports(tracker: UnitTracker, reports: Iterable[tuple[Any, int, int]]) -> None:
    for key, attempt, n in reports:
        tracker.report(key, attempt, n)


class PoolProgress:
    """The driver's side: hands out reporters, drains the counter, keeps the tracker."""

    def __init__(self) -> None:
        self.tracker = UnitTracker()
        self._counter = ProgressCounter.remote()

    def start(self, key: Any, attempt: int) -> UnitReporter:
        self.tracker.start(key, attempt)
        return UnitReporter(self._counter, key, attempt)

    def poll(self) -> int:
        """Take in every report that reached the counter; returns the units done."""
        apply_reports(self.tracker, ray.get(self._counter.drain.remote()))
        return self.tracker.done

    def close(self) -> None:
        ray.kill(self._counter, no_restart=True)
