"""Where a job's output goes: a local folder or any fsspec URL (``s3://``, ``gs://``, ...).

The commit rule is the same everywhere: a shard counts as done only when both its tar and its
statistics exist, and each is written so that no reader ever sees half of it.

- A local folder (a plain path or ``file://``): the tar and the stats are written under
  temporary names, the stats are renamed first and the tar last, so the tar's final name
  appears only after its stats (today's rule; ``os.replace`` is atomic).
- An object store (no rename): the finished tar is uploaded under its final name (a PUT is
  atomic: the object appears whole or not at all), then its stats are uploaded as the done
  marker, as img2dataset does. A job killed between the two leaves a complete tar without
  stats; the rerun treats that shard as not done and uploads it again, overwriting it.

Credentials and endpoints come from the protocol's usual configuration (for S3 through
``s3fs``: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_PROFILE``, ``AWS_ENDPOINT_URL``
for an S3-compatible endpoint, or fsspec's own config files and ``FSSPEC_S3_*`` variables).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from vea_augment.errors import ConfigError

TEMP_MARK = ".tmp-"


def _to_text(payload: BaseModel | dict[str, Any]) -> bytes:
    if isinstance(payload, BaseModel):
        text = payload.model_dump_json(indent=2)
    else:
        text = json.dumps(payload, indent=2, sort_keys=True)
    return (text + "\n").encode("utf-8")


def _atomic_local_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}{TEMP_MARK}{uuid.uuid4().hex}")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)  # a full disk or an interrupt leaves nothing behind
        raise


def is_url(location: str | os.PathLike[str]) -> bool:
    """True for ``proto://...`` (``file://`` included), False for a plain local path."""
    return "://" in str(location)


class OutputStore:
    """An output folder addressed by names relative to its root (``shard-00000.tar``)."""

    def __init__(self, location: str | os.PathLike[str]) -> None:
        text = str(location)
        if is_url(text):
            import fsspec

            try:
                self.fs, root = fsspec.core.url_to_fs(text)
            except (ImportError, ValueError) as exc:
                raise ConfigError(f"cannot open output {text!r}: {exc}") from exc
            self.local = "file" in _protocols(self.fs)
        else:
            self.fs, root, self.local = None, str(Path(text).expanduser().absolute()), True
        self.root = root.rstrip("/") if root != "/" else root
        if self.local:
            self.root = str(Path(self.root).absolute())
        self.url = self.root if self.fs is None or self.local else self.fs.unstrip_protocol(root)

    # -- addressing -------------------------------------------------------------------------
    def path(self, name: str) -> str:
        """The full local path or URL of ``name``."""
        return f"{self.url.rstrip('/')}/{name}"

    def local_path(self, name: str) -> Path:
        assert self.local, "only a local store has local paths"
        return Path(self.root) / name

    def _key(self, name: str) -> str:
        return f"{self.root}/{name}"

    # -- reading ----------------------------------------------------------------------------
    def exists(self, name: str) -> bool:
        if self.local:
            return self.local_path(name).exists()
        return bool(self.fs.exists(self._key(name)))

    def read_text(self, name: str) -> str:
        if self.local:
            return self.local_path(name).read_text(encoding="utf-8")
        return self.fs.cat_file(self._key(name)).decode("utf-8")

    def names(self, folder: str = "") -> list[str]:
        """File names directly in ``folder`` (relative to the root); [] when it is absent."""
        if self.local:
            directory = Path(self.root) / folder
            return [p.name for p in directory.iterdir()] if directory.is_dir() else []
        base = self._key(folder).rstrip("/") if folder else self.root
        try:
            listed = self.fs.ls(base, detail=False, refresh=True)
        except FileNotFoundError:
            return []
        return [str(entry).rstrip("/").rsplit("/", 1)[-1] for entry in listed]

    # -- writing ----------------------------------------------------------------------------
    def make_root(self) -> None:
        """Create the root folder (or bucket prefix); an unwritable one is a ConfigError."""
        try:
            if self.local:
                Path(self.root).mkdir(parents=True, exist_ok=True)
            else:
                self.fs.makedirs(self.root, exist_ok=True)  # buckets: created if allowed
        except OSError as exc:
            raise unwritable(self.url, exc) from exc

    def create_exclusive(self, name: str, data: bytes) -> bool:
        """Create ``name`` holding ``data`` only if it does not exist; False if it does.

        Locally this is atomic (``O_CREAT | O_EXCL``). On an object store it is best-effort:
        fsspec has no portable create-if-absent, so two writers racing within one round trip
        can both succeed (the later PUT wins); callers re-read to see who holds it.
        An unwritable location is a :class:`ConfigError` (``cannot write to ...``).
        """
        try:
            if self.local:
                path = self.local_path(name)
                path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                except FileExistsError:
                    return False
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                return True
            if self.exists(name):
                return False
            self.fs.pipe_file(self._key(name), data)
            return True
        except OSError as exc:
            raise unwritable(self.path(name) if not self.local else self.root, exc) from exc

    def write_bytes(self, name: str, data: bytes) -> None:
        """Write ``name`` whole: temporary name and rename locally, one PUT remotely."""
        if self.local:
            _atomic_local_write(self.local_path(name), data)
        else:
            self.fs.pipe_file(self._key(name), data)

    def write_json(self, name: str, payload: BaseModel | dict[str, Any]) -> None:
        self.write_bytes(name, _to_text(payload))

    def upload(self, local_file: Path, name: str) -> None:
        """Put a finished local file under ``name`` (remote stores only)."""
        self.fs.put_file(str(local_file), self._key(name))

    def remove(self, name: str) -> None:
        if self.local:
            self.local_path(name).unlink(missing_ok=True)
        elif self.exists(name):
            self.fs.rm_file(self._key(name))


def unwritable(location: str, exc: OSError) -> ConfigError:
    """The one message for an output that cannot be written: ``cannot write to <path>:
    <reason>`` (``Permission denied``, ``Read-only file system``, ``No space left on device``)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return ConfigError(f"cannot write to {location}: {reason}")


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)
