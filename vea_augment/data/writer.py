"""The shard writer: one output shard per input shard, visible only when complete.

Each shard is written under a temporary name, its statistics are written next (also via a
temporary name), and only then is the shard renamed to ``shard-NNNNN.tar``. A rerun with the
same output directory therefore skips exactly the shards whose final name exists and redoes
the others; a writer killed half-way leaves only a temporary file, removed on the rerun.
Tar members of a sample are written adjacently in a fixed order with a fixed mtime, so the
same inputs give byte-identical shards.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from vea_augment.schemas.stats import ShardStats

FIXED_MTIME = 1_700_000_000
SHARD_NAME = "shard-{index:05d}.tar"
STATS_DIR = "_stats"
MANIFEST_NAME = "_manifest.json"
_TEMP_MARK = ".tmp-"
_SHARD_PATTERN = re.compile(r"^shard-(\d{5,})\.tar$")


def shard_path(output_dir: Path, index: int) -> Path:
    return Path(output_dir) / SHARD_NAME.format(index=index)


def stats_path(output_dir: Path, index: int) -> Path:
    return Path(output_dir) / STATS_DIR / f"shard-{index:05d}.json"


def finished_shards(output_dir: Path) -> set[int]:
    """Indices of shards whose final tar exists (their statistics were written before it)."""
    directory = Path(output_dir)
    if not directory.is_dir():
        return set()
    found = set()
    for path in directory.iterdir():
        match = _SHARD_PATTERN.match(path.name)
        if match and stats_path(directory, int(match.group(1))).exists():
            found.add(int(match.group(1)))
    return found


def remove_stale_temporaries(output_dir: Path) -> int:
    """Delete temporary files left by killed writers; returns how many were removed."""
    directory = Path(output_dir)
    removed = 0
    for folder in (directory, directory / STATS_DIR):
        if folder.is_dir():
            for path in folder.iterdir():
                if _TEMP_MARK in path.name:
                    path.unlink(missing_ok=True)
                    removed += 1
    return removed


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}{_TEMP_MARK}{uuid.uuid4().hex}")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def write_json_atomic(path: Path, payload: BaseModel | dict[str, Any]) -> None:
    """Write JSON (a contract or a dict) so readers never see a half-written file."""
    if isinstance(payload, BaseModel):
        text = payload.model_dump_json(indent=2)
    else:
        text = json.dumps(payload, indent=2, sort_keys=True)
    _atomic_write_bytes(Path(path), (text + "\n").encode("utf-8"))


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
        """(extension, data) in the fixed write order."""
        record = json.dumps(self.record, sort_keys=True, ensure_ascii=False).encode("utf-8")
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

    def __init__(self, output_dir: Path, index: int) -> None:
        self.output_dir = Path(output_dir)
        self.index = index
        self.final_path = shard_path(self.output_dir, index)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        # A shard is handed to one writer at a time, so an older temporary of this shard
        # belongs to a writer that was killed before it could clean up.
        for stale in self.output_dir.glob(f"{self.final_path.name}{_TEMP_MARK}*"):
            stale.unlink(missing_ok=True)
        self._temporary = self.final_path.with_name(
            f"{self.final_path.name}{_TEMP_MARK}{uuid.uuid4().hex}"
        )
        self._handle = open(self._temporary, "wb")  # noqa: SIM115 - closed in commit/abort
        self._tar = tarfile.open(  # noqa: SIM115 - closed in commit/abort
            fileobj=self._handle, mode="w", format=tarfile.GNU_FORMAT
        )
        self._keys: set[str] = set()
        self._committed = False

    def write(self, sample: OutputSample) -> None:
        if "." in sample.key or "/" in sample.key:
            raise ValueError(f"key {sample.key!r} contains '.' or '/': escape it first")
        if sample.key in self._keys:
            raise ValueError(f"key {sample.key!r} written twice to shard {self.index}")
        self._keys.add(sample.key)
        for extension, data in sample.members():
            info = tarfile.TarInfo(f"{sample.key}.{extension}")
            info.size = len(data)
            info.mtime = FIXED_MTIME
            info.mode = 0o644
            info.uname = info.gname = ""
            self._tar.addfile(info, io.BytesIO(data))

    def commit(self, stats: ShardStats) -> Path:
        """Finish the tar, write the statistics, then make the shard visible."""
        self._tar.close()
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        write_json_atomic(stats_path(self.output_dir, self.index), stats)
        os.replace(self._temporary, self.final_path)
        self._committed = True
        return self.final_path

    def abort(self) -> None:
        if self._committed:
            return
        if not self._tar.closed:
            self._tar.close()
        if not self._handle.closed:
            self._handle.close()
        self._temporary.unlink(missing_ok=True)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.abort()
