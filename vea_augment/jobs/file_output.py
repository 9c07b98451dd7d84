"""A job whose output is one file (``profile.json``, ``predictions.jsonl``): its lock and its
identity live beside it (``<name>.lock``, ``<stem>.manifest.json``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vea_augment._version import __version__
from vea_augment.data.job_lock import JobLock
from vea_augment.data.store import OutputStore
from vea_augment.data.writer import write_json_atomic
from vea_augment.distributed.interrupt import interruptible
from vea_augment.jobs.identity import check_identity, fingerprint, recorded_identity
from vea_augment.schemas.manifest import JobManifest


def manifest_path(output: Path) -> Path:
    """Where a file output's job manifest (its identity) lives: ``<stem>.manifest.json``."""
    return output.with_name(f"{output.stem}.manifest.json")


@contextmanager
def claimed_file(
    output: Path, command: str, identity: dict[str, Any], overwrite: bool
) -> Iterator[Path]:
    """Hold ``output`` for the block: locked (a second job is refused naming the holder), an
    existing ``output`` checked to carry ``identity`` (else :class:`ConfigError` naming what
    changed; ``overwrite`` removes it instead), and the manifest with the identity written
    before the work starts, so an interrupted job is resumed only by the same job.

    Yields the absolute output path. Interrupts (SIGINT, SIGTERM) become ``JobInterrupted``.
    """
    output = Path(output).expanduser().absolute()
    folder = OutputStore(output.parent)
    folder.make_root()
    sidecar = manifest_path(output)
    with JobLock(folder, command, name=f"{output.name}.lock"), interruptible():
        if overwrite:
            output.unlink(missing_ok=True)
            sidecar.unlink(missing_ok=True)
        elif output.exists():
            recorded = recorded_identity(sidecar.read_text("utf-8")) if sidecar.exists() else None
            check_identity(str(output), recorded, identity)
        manifest = JobManifest(
            command=command,
            tool_version=__version__,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            input=str(identity["input"]),
            output=str(output),
            identity=identity,
            fingerprint=fingerprint(identity),
        )
        write_json_atomic(sidecar, manifest)
        yield output
