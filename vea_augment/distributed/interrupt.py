"""SIGINT and SIGTERM on a job's driver: stop the work, clean up, report, exit 128 + signal.

Inside :func:`interruptible` the first SIGINT or SIGTERM raises :class:`JobInterrupted` in
the main thread (a ``BaseException``, so no ``except Exception`` on the way swallows it);
the ``finally`` blocks on the way kill the actors, and the job catches it to remove its
temporary files, release its lock and return its summary. Further signals are ignored until
the outermost :func:`interruptible` has exited, so the clean-up is not itself cut short.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class JobInterrupted(BaseException):
    """The driver received ``signum``; the job ends early with exit code 128 + ``signum``."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


_state: dict[str, int | None] = {"depth": 0, "received": None}


def _handler(signum: int, frame: FrameType | None) -> None:
    if _state["received"] is not None:
        return  # already stopping: let the clean-up finish
    _state["received"] = signum
    raise JobInterrupted(signum)


@contextmanager
def interruptible() -> Iterator[None]:
    """Turn SIGINT/SIGTERM into :class:`JobInterrupted` for the block (main thread only:
    elsewhere signals cannot be handled, and the block runs unchanged)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in SIGNALS}
    for number in SIGNALS:
        signal.signal(number, _handler)
    _state["depth"] = int(_state["depth"] or 0) + 1
    try:
        yield
    finally:
        _state["depth"] = int(_state["depth"] or 0) - 1
        for number, handler in previous.items():
            signal.signal(number, handler)
        if not _state["depth"]:
            _state["received"] = None
