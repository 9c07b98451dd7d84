"""Finding the Ray processes a job's driver started, to kill or measure them (chaos tests and
the soak benchmark). Only descendants of a given driver are ever returned, so nothing else on
the machine is touched."""

from __future__ import annotations

import contextlib
import signal

import psutil

AUGMENT_ACTOR_TITLE = "ray::AugmentActor"
"""How Ray titles an augment actor's process (``ray::AugmentActor.run_shard`` while busy)."""


def descendants(pid: int) -> list[psutil.Process]:
    """Every living process below ``pid`` (none once it is gone)."""
    with contextlib.suppress(psutil.Error):
        return psutil.Process(pid).children(recursive=True)
    return []


def _title(process: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return " ".join(process.cmdline())
    return ""


def augment_actors(driver: int, busy_only: bool = False) -> list[psutil.Process]:
    """The driver's augment actor processes; with ``busy_only`` those running a shard."""
    found = []
    for process in descendants(driver):
        title = _title(process)
        if title.startswith(AUGMENT_ACTOR_TITLE) and (not busy_only or "run_shard" in title):
            found.append(process)
    return found


def resident_bytes(process: psutil.Process) -> int:
    """The process's resident memory, 0 once it is gone."""
    with contextlib.suppress(psutil.Error):
        return process.memory_info().rss
    return 0


def kill_hard(process: psutil.Process) -> bool:
    """SIGKILL ``process`` (no cleanup runs in it); False when it was already gone."""
    with contextlib.suppress(psutil.Error):
        process.send_signal(signal.SIGKILL)
        return True
    return False


def end_all(processes: list[psutil.Process], timeout: float = 20.0) -> None:
    """SIGKILL every process and wait for them (processes already gone are fine)."""
    for process in processes:
        kill_hard(process)
    psutil.wait_procs(processes, timeout=timeout)
