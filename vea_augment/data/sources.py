"""Planning the unit of work: the input shard.

An input is a WebDataset shard list (local paths, brace patterns such as
``data/shard-{00000..00099}.tar``, or any URL/pipe WebDataset's ``gopen`` accepts), or a
JSONL file of records (Visual-CoT's own format, or the input contract with an ``image``
path relative to the file), or a folder holding either. A JSONL input is cut into shards of
``samples_per_shard`` lines, so output shard N holds exactly input shard N's samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import braceexpand

from vea_augment.errors import ConfigError
from vea_augment.options import SAMPLES_PER_SHARD

ShardKind = Literal["webdataset", "jsonl"]
JSONL_SUFFIXES = (".jsonl", ".ndjson")


@dataclass(frozen=True)
class ShardTask:
    """One input shard: a whole tar, or the lines ``[start, stop)`` of a JSONL file."""

    index: int
    kind: ShardKind
    source: str
    start: int = 0
    stop: int | None = None
    image_root: str | None = None

    def describe(self) -> str:
        if self.kind == "jsonl":
            return f"{self.source}[lines {self.start}:{self.stop}]"
        return self.source


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def _jsonl_tasks(path: Path, samples_per_shard: int, image_root: str | None) -> list[ShardTask]:
    total = _count_lines(path)
    root = image_root if image_root is not None else str(path.parent)
    return [
        ShardTask(index, "jsonl", str(path), start, min(start + samples_per_shard, total), root)
        for index, start in enumerate(range(0, total, samples_per_shard))
    ]


def plan_shards(
    source: str, samples_per_shard: int = SAMPLES_PER_SHARD, image_root: str | None = None
) -> list[ShardTask]:
    """Expand ``source`` into its input shards, numbered from 0 in input order.

    Raises :class:`ConfigError` with the reason when the source names nothing readable.
    """
    if samples_per_shard < 1:
        raise ConfigError(f"--samples-per-shard must be >= 1, got {samples_per_shard}")
    path = Path(source)
    if path.is_dir():
        jsonl_files = sorted(p for p in path.iterdir() if p.suffix in JSONL_SUFFIXES)
        tar_files = sorted(p for p in path.iterdir() if p.suffix == ".tar")
        if len(jsonl_files) == 1 and not tar_files:
            return _jsonl_tasks(jsonl_files[0], samples_per_shard, image_root)
        if tar_files and not jsonl_files:
            return [ShardTask(i, "webdataset", str(p)) for i, p in enumerate(tar_files)]
        raise ConfigError(
            f"folder {source!r} must hold either one JSONL file (with its images) or .tar "
            f"shards; found {len(jsonl_files)} JSONL and {len(tar_files)} tar files"
        )
    if path.suffix in JSONL_SUFFIXES:
        if not path.is_file():
            raise ConfigError(f"JSONL input {source!r} does not exist")
        return _jsonl_tasks(path, samples_per_shard, image_root)
    urls = list(braceexpand.braceexpand(source))
    local_missing = [
        url
        for url in urls
        if "://" not in url and not url.startswith("pipe:") and not Path(url).is_file()
    ]
    if local_missing:
        shown = ", ".join(local_missing[:3]) + (" ..." if len(local_missing) > 3 else "")
        raise ConfigError(f"{len(local_missing)} input shard(s) do not exist: {shown}")
    return [ShardTask(index, "webdataset", url) for index, url in enumerate(urls)]
