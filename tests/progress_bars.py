"""A stand-in for the pool's tqdm bar that records every count it is moved to."""

from __future__ import annotations

from typing import Any

import pytest

from vea_augment.distributed import pool


class RecordingBar:
    def __init__(self, total: int | None = None, unit: str = "it", **_: Any) -> None:
        self.total, self.unit, self.n = total, unit, 0
        self.initial_total = total
        self.seen: list[int] = []
        self.totals: list[int | None] = []
        self.postfix: dict[str, Any] = {}

    def update(self, n: int = 1) -> None:
        self.n += n
        self.seen.append(self.n)

    def refresh(self) -> None:
        self.totals.append(self.total)

    def set_postfix(self, **fields: Any) -> None:
        self.postfix = fields

    def close(self) -> None:
        pass


def record_bars(monkeypatch: pytest.MonkeyPatch) -> list[RecordingBar]:
    """Every bar ``distribute`` makes from now on, in order."""
    bars: list[RecordingBar] = []

    def make(**options: Any) -> RecordingBar:
        bars.append(RecordingBar(**options))
        return bars[-1]

    monkeypatch.setattr(pool, "tqdm", make)
    return bars
