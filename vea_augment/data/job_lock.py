"""The exclusive lock a job holds on its output for its whole life (``_lock.json``).

The lock file records who holds it (host, pid, command, start time, a random token) and a
heartbeat that a driver thread refreshes every ``heartbeat_s`` seconds. A second job into the
same output is refused with the holder named. A lock is stale, and taken over with a warning,
when its holder's process is gone (same host, pid not alive) or its heartbeat is older than
``stale_after_s`` (a holder on another machine that died, or a frozen one).

Locally the lock is created with ``O_CREAT | O_EXCL``: of two jobs starting together exactly
one gets it. On an object store (fsspec) the create is best-effort (look, then PUT; there is
no portable create-if-absent), so two jobs starting within one round trip of each other can
both believe they hold it; after writing, the lock is read back and the job whose token is
not there is refused.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from vea_augment.data.store import OutputStore
from vea_augment.errors import ConfigError
from vea_augment.options import LOCK_HEARTBEAT_S, LOCK_STALE_HEARTBEATS

LOCK_NAME = "_lock.json"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LockHolder:
    """What a lock file says about the job that holds it."""

    host: str
    pid: int
    command: str
    started: str
    heartbeat: float
    """Unix time of the holder's last refresh."""
    token: str

    def describe(self, now: float | None = None) -> str:
        age = (now or time.time()) - self.heartbeat
        return (
            f"{self.command} job (pid {self.pid} on {self.host}, started {self.started}, "
            f"last heartbeat {max(age, 0):.0f}s ago)"
        )

    def to_bytes(self) -> bytes:
        return (json.dumps(asdict(self), indent=2, sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def parse(cls, text: str) -> LockHolder | None:
        """The holder a lock file names, or None if the file is not a lock we wrote."""
        try:
            fields: dict[str, Any] = json.loads(text)
            return cls(
                host=str(fields["host"]),
                pid=int(fields["pid"]),
                command=str(fields["command"]),
                started=str(fields["started"]),
                heartbeat=float(fields["heartbeat"]),
                token=str(fields["token"]),
            )
        except (ValueError, KeyError, TypeError):
            return None


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` exists on this machine (signal 0 probes without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def stale_reason(holder: LockHolder, stale_after_s: float, now: float | None = None) -> str | None:
    """Why ``holder``'s lock may be taken over, or None while it is live."""
    now = time.time() if now is None else now
    if holder.host == socket.gethostname() and not pid_alive(holder.pid):
        return f"its process {holder.pid} on {holder.host} is gone"
    if now - holder.heartbeat > stale_after_s:
        return (
            f"its heartbeat is {now - holder.heartbeat:.0f}s old (stale after {stale_after_s:.0f}s)"
        )
    return None


class JobLock:
    """The lock on one output (a folder's ``_lock.json``, or a file's ``<name>.lock``).

    Use as a context manager: entering acquires it (or raises :class:`ConfigError` naming
    the holder) and starts the heartbeat; leaving stops the heartbeat and removes the file.
    """

    def __init__(
        self,
        store: OutputStore,
        command: str,
        name: str = LOCK_NAME,
        heartbeat_s: float = LOCK_HEARTBEAT_S,
        stale_after_s: float | None = None,
    ) -> None:
        self.store, self.name, self.command = store, name, command
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = (
            stale_after_s if stale_after_s is not None else heartbeat_s * LOCK_STALE_HEARTBEATS
        )
        self.holder = LockHolder(
            host=socket.gethostname(),
            pid=os.getpid(),
            command=command,
            started=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            heartbeat=time.time(),
            token=uuid.uuid4().hex,
        )
        self.took_over: str | None = None
        """Set when a stale lock was taken over: whose it was and why it was stale."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- acquiring --------------------------------------------------------------------------
    def acquire(self) -> None:
        """Hold the lock, taking over a stale one (with a warning); refuse a live one."""
        if self.store.create_exclusive(self.name, self.holder.to_bytes()):
            self._confirm()
            return
        current = self._read()
        if current is None:
            reason = "it is not a lock file this tool wrote (unreadable)"
        else:
            reason = stale_reason(current, self.stale_after_s)
            if reason is None:
                raise ConfigError(
                    f"{self.store.path(self.name)} is held by a running "
                    f"{current.describe()}; wait for it to end (a lock whose holder died is "
                    f"taken over once its heartbeat is {self.stale_after_s:.0f}s old)"
                )
        whose = current.describe() if current else "an unreadable lock"
        self.store.remove(self.name)
        if not self.store.create_exclusive(self.name, self.holder.to_bytes()):
            newer = self._read()
            raise ConfigError(
                f"{self.store.path(self.name)} was just taken by another "
                f"{newer.describe() if newer else 'job'}"
            )
        self._confirm()
        self.took_over = f"took over the stale lock of {whose}: {reason}"
        log.warning("%s: %s", self.store.path(self.name), self.took_over)

    def _confirm(self) -> None:
        """Read the lock back: on an object store a racing job's PUT may have won."""
        current = self._read()
        if current is None or current.token != self.holder.token:
            raise ConfigError(
                f"{self.store.path(self.name)} was taken by another "
                f"{current.describe() if current else 'job'} at the same moment"
            )

    def _read(self) -> LockHolder | None:
        try:
            return LockHolder.parse(self.store.read_text(self.name))
        except (FileNotFoundError, OSError):
            return None

    # -- holding ----------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Write a fresh heartbeat; False (and no write) when the lock is no longer ours."""
        current = self._read()
        if current is None or current.token != self.holder.token:
            return False
        self.holder = LockHolder(**{**asdict(self.holder), "heartbeat": time.time()})
        self.store.write_bytes(self.name, self.holder.to_bytes())
        return True

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                if not self.refresh():
                    log.warning("%s: the lock is no longer ours", self.store.path(self.name))
                    return
            except OSError as exc:  # a full disk or a lost mount: say so, keep trying
                log.warning("%s: heartbeat failed: %s", self.store.path(self.name), exc)

    def release(self) -> None:
        """Stop the heartbeat and remove the lock file if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.heartbeat_s + 5)
            self._thread = None
        current = self._read()
        if current is not None and current.token == self.holder.token:
            self.store.remove(self.name)

    def __enter__(self) -> JobLock:
        self.acquire()
        self._thread = threading.Thread(target=self._beat, name="vea-lock-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
