"""The shard writer: one output shard per input shard, visible only when complete.

The output is a local folder or any fsspec URL (:mod:`vea_augment.data.store` has the commit
rule for each). Locally each shard is written under a temporary name, its statistics are
written next (also via a temporary name), and only then is the shard renamed to
``shard-NNNNN.tar``. On an object store the finished tar is uploaded under its final name and
its statistics, uploaded last, are the done marker. A rerun with the same output therefore
skips exactly the shards whose tar and statistics both exist and redoes the others; a writer
killed half-way leaves only a temporary file (removed on the rerun) or, remotely, a tar
without statistics (rewritten on the rerun).
Tar members of a sample are written adjacently in a fixed order with a fixed mtime, so the
same inputs give byte-identical shards.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tarfile
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from vea_augment.data.keys import duplicate_key, sanitize_key
from vea_augment.data.store import TEMP_MARK, OutputStore, _atomic_local_write, _to_text
from vea_augment.errors import VEAError
from vea_augment.schemas.stats import ShardStats

FIXED_MTIME = 1_700_000_000
SHARD_NAME = "shard-{index:05d}.tar"
STATS_DIR = "_stats"
MANIFEST_NAME = "_manifest.json"
_TEMP_MARK = TEMP_MARK
_SHARD_PATTERN = re.compile(r"^shard-(\d{5,})\.tar$")
_STATS_PATTERN = re.compile(r"^shard-(\d{5,})\.json$")


def as_store(output: str | os.PathLike[str] | OutputStore) -> OutputStore:
    return output if isinstance(output, OutputStore) else OutputStore(output)


def shard_name(index: int) -> str:
    return SHARD_NAME.format(index=index)


def stats_name(index: int) -> str:
    return f"{STATS_DIR}/shard-{index:05d}.json"


def partial_stats_name(index: int) -> str:
    """Statistics of a shard that ``--limit`` cut short: not the done marker, so a later run
    redoes the shard (and removes this file)."""
    return f"{STATS_DIR}/shard-{index:05d}.partial.json"


def shard_path(output_dir: Path, index: int) -> Path:
    return Path(output_dir) / shard_name(index)


def stats_path(output_dir: Path, index: int) -> Path:
    return Path(output_dir) / stats_name(index)


def finished_shards(output: str | os.PathLike[str] | OutputStore) -> set[int]:
    """Indices of shards whose tar and statistics both exist (the commit rule, local or not)."""
    store = as_store(output)
    tars = {int(m.group(1)) for m in map(_SHARD_PATTERN.match, store.names()) if m}
    stats = {int(m.group(1)) for m in map(_STATS_PATTERN.match, store.names(STATS_DIR)) if m}
    return tars & stats


def remove_stale_temporaries(output: str | os.PathLike[str] | OutputStore) -> int:
    """Delete temporary files left by killed writers; returns how many were removed."""
    store = as_store(output)
    removed = 0
    for folder in ("", STATS_DIR):
        for name in store.names(folder):
            if _TEMP_MARK in name:
                store.remove(f"{folder}/{name}" if folder else name)
                removed += 1
    return removed


def write_json_atomic(path: Path, payload: BaseModel | dict[str, Any]) -> None:
    """Write JSON (a contract or a dict) so readers never see a half-written file."""
    _atomic_local_write(Path(path), _to_text(payload))


class RecordEncodeError(VEAError, ValueError):
    """One sample's record cannot be serialised; nothing of the sample was written."""


class ShardWriteError(VEAError, OSError):
    """The shard itself cannot be written (disk full, permissions); names the cause."""


@dataclass(frozen=True)
class OutputSample:
    """The encoded members of one output sample; ``None`` members are not written."""

    key: str
    record: dict[str, Any]
    image_ext: str
    highlighted: bytes | None = None
    mask_png: bytes | None = None
    scores_npy: bytes | None = None
    original: bytes | None = None

    def members(self) -> list[tuple[str, bytes]]:
        """(extension, data) in the fixed write order; raises :class:`RecordEncodeError`
        naming the reason when the record cannot be written as UTF-8 JSON."""
        try:
            text = json.dumps(self.record, sort_keys=True, ensure_ascii=False)
            record = text.encode("utf-8")
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start : exc.start + 1]
            raise RecordEncodeError(
                f"the record cannot be written as UTF-8 JSON: it holds U+{ord(bad):04X} "
                f"({exc.reason})"
            ) from None
        except (TypeError, ValueError, RecursionError) as exc:
            raise RecordEncodeError(
                f"the record cannot be written as JSON: {type(exc).__name__}: {exc}"
            ) from None
        ordered = [
            (self.image_ext, self.highlighted),
            ("mask.png", self.mask_png),
            ("scores.npy", self.scores_npy),
            ("json", record),
            (f"orig.{self.image_ext}", self.original),
        ]
        return [(extension, data) for extension, data in ordered if data is not None]


class ShardWriter:
    """Writes one output shard; use as a context manager and call :meth:`commit`.

    Leaving the context without a commit (an exception, a kill) removes the temporary file.
    """

    def __init__(self, output: str | os.PathLike[str] | OutputStore, index: int) -> None:
        self.store = as_store(output)
        self.index = index
        self.name = shard_name(index)
        self.final_path = self.store.path(self.name)
        self.store.make_root()
        if self.store.local:
            folder = Path(self.store.root)
            # A shard is handed to one writer at a time, so an older temporary of this shard
            # belongs to a writer that was killed before it could clean up.
            for stale in folder.glob(f"{self.name}{_TEMP_MARK}*"):
                stale.unlink(missing_ok=True)
            self._temporary = folder / f"{self.name}{_TEMP_MARK}{uuid.uuid4().hex}"
        else:
            handle, name = tempfile.mkstemp(prefix=f"vea-{self.name}{_TEMP_MARK}")
            os.close(handle)
            self._temporary = Path(name)
        self._handle = open(self._temporary, "wb")  # noqa: SIM115 - closed in commit/abort
        self._tar = tarfile.open(  # noqa: SIM115 - closed in commit/abort
            fileobj=self._handle, mode="w", format=tarfile.GNU_FORMAT
        )
        self._keys: set[str] = set()
        self._committed = False

    def write(self, sample: OutputSample) -> str:
        """Append one sample; returns the key it was written under.

        A bad key is never an exception: it is sanitised (:func:`sanitize_key`) and a key
        already in the shard becomes ``key-dupN``. Raises :class:`RecordEncodeError` (before
        writing anything of the sample) when its record cannot be serialised, and
        :class:`ShardWriteError` naming the cause when the shard cannot be written.
        """
        key = sanitize_key(sample.key)
        if key in self._keys:
            key = duplicate_key(key, self._keys)
        members = sample.members()
        self._keys.add(key)
        try:
            for extension, data in members:
                info = tarfile.TarInfo(f"{key}.{extension}")
                info.size = len(data)
                info.mtime = FIXED_MTIME
                info.mode = 0o644
                info.uname = info.gname = ""
                self._tar.addfile(info, io.BytesIO(data))
        except OSError as exc:
            raise self._write_error(exc) from exc
        return key

    def _write_error(self, exc: OSError) -> ShardWriteError:
        cause = exc.strerror or str(exc) or type(exc).__name__
        return ShardWriteError(exc.errno, f"cannot write {self.name} to {self.final_path}: {cause}")

    def commit(self, stats: ShardStats, partial: bool = False) -> str:
        """Finish the tar and make the shard visible with its statistics (the commit rule).

        ``partial`` (a shard cut short by ``--limit``): the statistics go to
        :func:`partial_stats_name`, so the shard never counts as finished."""
        try:
            self._tar.close()
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
        except OSError as exc:
            raise self._write_error(exc) from exc
        final_stats = partial_stats_name(self.index) if partial else stats_name(self.index)
        if self.store.exists(stats_name(self.index)):
            self.store.remove(stats_name(self.index))
        try:
            if self.store.local:
                self.store.write_json(final_stats, stats)
                os.replace(self._temporary, self.store.local_path(self.name))
            else:
                self.store.upload(self._temporary, self.name)
                self.store.write_json(final_stats, stats)
                self._temporary.unlink(missing_ok=True)
        except OSError as exc:
            raise self._write_error(exc) from exc
        if not partial and self.store.exists(partial_stats_name(self.index)):
            self.store.remove(partial_stats_name(self.index))
        self._committed = True
        return self.final_path

    def abort(self) -> None:
        """Drop the uncommitted shard: its temporary file is removed whatever went wrong
        (closing a tar on a full disk raises again; that must not keep the file)."""
        if self._committed:
            return
        for close in (self._tar.close, self._handle.close):
            with contextlib.suppress(Exception):  # the shard is being thrown away
                close()
        self._temporary.unlink(missing_ok=True)
        if self.store.local:  # a stats file cut short by the same failure
            stats_folder = Path(self.store.local_path(STATS_DIR))
            for stale in stats_folder.glob(f"shard-{self.index:05d}*{_TEMP_MARK}*"):
                stale.unlink(missing_ok=True)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.abort()
