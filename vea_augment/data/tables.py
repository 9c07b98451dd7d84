"""Tables: parquet files, ``datasets.save_to_disk`` Arrow files and Hugging Face hub splits.

The low-level access that planning (``table_sources``) and reading (``readers.tables``)
share: row counts, a row range as a ``pyarrow.Table`` (nothing decoded: an ``Image``
feature stays a struct of ``bytes`` and ``path``), and which column holds which field.
pyarrow reads parquet and Arrow; only hub ids need the ``datasets`` library (``pip install
'vea-augment[hf]'``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from vea_augment.errors import ConfigError
from vea_augment.options import ColumnMapping

if TYPE_CHECKING:
    import datasets


@dataclass(frozen=True)
class Columns:
    """The columns a table holds for each field (None: absent), or why it cannot be read."""

    question: str | None
    answers: str | None
    image: str | None
    boxes: str | None
    id: str | None
    problem: str | None = None


def resolve_columns(names: list[str], mapping: ColumnMapping) -> Columns:
    """Pick each field's column: the first candidate ``names`` holds. Question and image
    are required; ``problem`` names a missing one, the candidates tried and what is there."""
    present = set(names)

    def first(candidates: tuple[str, ...]) -> str | None:
        return next((name for name in candidates if name in present), None)

    fields = ("question", "answers", "image", "boxes", "id")
    found = {field: first(getattr(mapping, field)) for field in fields}
    problem = None
    missing = [field for field in ("question", "image") if found[field] is None]
    if missing:
        option = f"--{missing[0]}-field"
        tried = ", ".join(repr(name) for name in getattr(mapping, missing[0]))
        problem = (
            f"no {missing[0]} column (tried {tried}; set {option}); "
            f"columns present: {', '.join(names) or 'none'}"
        )
    return Columns(**found, problem=problem)


def parquet_schema(path: Path) -> tuple[int, list[str]]:
    """A parquet file's row count and column names, from its footer."""
    metadata = pq.ParquetFile(path)
    return metadata.metadata.num_rows, metadata.schema_arrow.names


def parquet_batches(
    path: Path, start: int, stop: int | None, batch_rows: int
) -> tuple[list[str], Iterator[pa.RecordBatch]]:
    """The column names and rows ``[start, stop)`` of a parquet file in batches, streamed
    from only the row groups they lie in (a shard of large images never sits in memory)."""
    parquet = pq.ParquetFile(path)
    stop = parquet.metadata.num_rows if stop is None else stop
    groups, skip, row = [], 0, 0
    for group in range(parquet.num_row_groups):
        rows = parquet.metadata.row_group(group).num_rows
        if row < stop and row + rows > start:
            skip = start - row if not groups else skip
            groups.append(group)
        row += rows

    def batches() -> Iterator[pa.RecordBatch]:
        left, to_skip = stop - start, skip
        for batch in parquet.iter_batches(batch_size=batch_rows, row_groups=groups):
            if to_skip >= batch.num_rows:
                to_skip -= batch.num_rows
                continue
            batch = batch.slice(to_skip, left)
            to_skip, left = 0, left - batch.num_rows
            yield batch
            if left <= 0:
                return

    return parquet.schema_arrow.names, batches()


def arrow_table(path: Path) -> pa.Table:
    """One Arrow file of a ``save_to_disk`` folder (an IPC stream), memory-mapped."""
    source = pa.memory_map(str(path))
    try:
        return pa.ipc.open_stream(source).read_all()
    except pa.ArrowInvalid:
        return pa.ipc.open_file(source).read_all()


def _datasets() -> Any:
    try:
        import datasets
    except ImportError as exc:
        raise ConfigError(
            "reading a Hugging Face hub dataset needs the datasets library: "
            "pip install 'vea-augment[hf]'"
        ) from exc
    return datasets


def hub_split_names(hub_id: str, config: str | None) -> list[str]:
    """The splits of a hub dataset (or of a local folder ``datasets`` can load)."""
    try:
        return list(_datasets().get_dataset_split_names(hub_id, config))
    except ConfigError:
        raise
    except Exception as exc:  # datasets raises many types for unknown ids, configs, offline
        raise ConfigError(f"cannot list the splits of {hub_id!r}: {exc}") from exc


@lru_cache(maxsize=4)
def hub_dataset(hub_id: str, config: str | None, split: str) -> datasets.Dataset:
    """``datasets.load_dataset(hub_id, name=config, split=split)``, once per process (the
    split is downloaded to the Hugging Face cache on first use, memory-mapped after)."""
    library = _datasets()
    try:
        return library.load_dataset(hub_id, name=config, split=split)
    except Exception as exc:  # datasets raises many types for unknown ids, splits, offline
        where = f"{hub_id!r}" + (f" (configuration {config!r})" if config else "")
        raise ConfigError(f"cannot load split {split!r} of {where}: {exc}") from exc


def hub_rows(hub_id: str, config: str | None, split: str, start: int, stop: int) -> pa.Table:
    """Rows ``[start, stop)`` of a hub split as Arrow, images undecoded."""
    return hub_dataset(hub_id, config, split).with_format("arrow")[start:stop]
