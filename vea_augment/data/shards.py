"""The unit of work, the input shard, and the options that decide how an input is cut."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vea_augment.options import ColumnMapping, InputOptions, RemoteDeadlines

ShardKind = Literal[
    "webdataset", "jsonl", "json_list", "llava_jsonl", "llava_json", "parquet", "arrow", "hf"
]

#: What a shard's range counts, by kind (a tar is a whole file; tables count rows).
_UNITS = {
    "webdataset": "",
    "jsonl": "lines",
    "llava_jsonl": "lines",
    "json_list": "records",
    "llava_json": "records",
}


@dataclass(frozen=True)
class ShardTask:
    """One input shard: a whole tar, or records/rows ``[start, stop)`` of a file or split.

    It carries everything a reader needs (a Ray actor holds no driver state): for a JSON
    list the byte range ``[offset, end)`` holding its records, for a table the columns.
    """

    index: int
    kind: ShardKind
    source: str
    start: int = 0
    stop: int | None = None
    image_root: str | None = None
    offset: int = 0
    end: int | None = None
    split: str | None = None
    hf_config: str | None = None
    columns: ColumnMapping = field(default_factory=ColumnMapping)
    limit: int | None = None
    """Read only the first ``limit`` samples (``--limit`` cut this shard short): the output
    shard is partial, and its statistics say so (``writer.partial_stats_name``)."""
    trusted: bool = False
    """The user's own command line named this shard, so its source may be a ``pipe:``
    command (``data/opening.py``); a shard planned from a data file never is."""
    allow_external_images: bool = False
    """Record image paths may resolve outside ``image_root`` (``--allow-external-images``)."""
    deadlines: RemoteDeadlines = field(default_factory=RemoteDeadlines)
    """Timeouts of a remote shard's read."""

    def describe(self) -> str:
        """The shard in words: the tar, or the file (or hub split) and its range."""
        cut = f" (first {self.limit} samples)" if self.limit is not None else ""
        return self._where() + cut

    def _where(self) -> str:
        what = _UNITS.get(self.kind, "rows")
        if not what:
            return self.source
        source = self.source
        if self.kind == "hf":
            source += "".join(f":{part}" for part in (self.hf_config, self.split) if part)
        return f"{source}[{what} {self.start}:{self.stop if self.stop is not None else ''}]"


def row_ranges(options: InputOptions, total: int) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges of ``options.samples_per_shard`` rows covering ``total``."""
    size = options.samples_per_shard
    return [(start, min(start + size, total)) for start in range(0, total, size)]
