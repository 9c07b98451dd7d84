"""Table rows as samples: parquet files (the hub layout), ``save_to_disk`` folders, hub splits.

Each row is mapped onto the input contract through the job's :class:`ColumnMapping`
(question, answers, image, boxes, id), keeping every other column that JSON can hold. The
image comes from an ``Image`` feature (a struct of ``bytes`` and/or ``path``), raw bytes or
a path, undecoded, its extension from its magic bytes or its path. A row without an image,
a table without a mapped column or a file that cannot be read becomes an error record.
"""

from __future__ import annotations

import datetime
import decimal
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from vea_augment.data.keys import escape_key
from vea_augment.data.readers.image_paths import hub_cache_roots, read_root_image
from vea_augment.data.readers.sample import RawSample, image_extension
from vea_augment.data.sources import ShardTask
from vea_augment.data.tables import (
    Columns,
    arrow_table,
    hub_rows,
    parquet_batches,
    resolve_columns,
)
from vea_augment.errors import VEAError

_DROP = object()


def json_value(value: Any) -> Any:
    """``value`` as JSON can hold it: bytes are left out (an image struct keeps its path),
    dates become ISO strings, NaN and infinities None."""
    if isinstance(value, bytes | bytearray | memoryview):
        return _DROP
    if isinstance(value, dict):
        if set(value) == {"bytes", "path"}:
            return value["path"] if value["path"] else _DROP
        kept = {key: json_value(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item is not _DROP}
    if isinstance(value, list | tuple):
        return [item for item in map(json_value, value) if item is not _DROP]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta | decimal.Decimal):
        return str(value)
    return value


def _answers(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(answer) for answer in value if answer is not None]
    return [str(value)]


def _boxes(value: Any) -> Any:
    if isinstance(value, list | tuple) and len(value) == 4 and not isinstance(value[0], list):
        return [list(value)]  # one flat box
    return value


def row_image(
    value: Any, column: str, root: Path, allow_external: bool = False, hub: bool = False
) -> tuple[bytes | None, str | None, str | None]:
    """``(bytes, extension, None)`` from an image cell, or ``(None, None, reason)``; a path
    must lie inside ``root`` unless ``allow_external`` (a ``hub`` split's ``Image`` cell may
    also point into the datasets/hub cache, where ``datasets`` put the file)."""
    if isinstance(value, list):
        if len(value) > 1:
            return None, None, f"column {column!r} holds {len(value)} images; expected one"
        value = value[0] if value else None
    if value is None:
        return None, None, f"the row has no image (column {column!r} is empty)"
    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
        if data:
            return bytes(data), image_extension(bytes(data), path) or "jpg", None
        if path:
            also = hub_cache_roots() if hub else ()
            return read_root_image(root, str(path), allow_external, also)
        return None, None, f"the row has no image (column {column!r} holds no bytes nor path)"
    if isinstance(value, bytes):
        if not value:
            return None, None, f"the row has no image (column {column!r} holds 0 bytes)"
        return value, image_extension(value) or "jpg", None
    if isinstance(value, str) and value:
        return read_root_image(root, value, allow_external)
    return None, None, f"column {column!r} holds a {type(value).__name__}, not an image"


def row_sample(row: dict[str, Any], number: int, columns: Columns, task: ShardTask) -> RawSample:
    """One row as a sample; ``number`` is its row in the file (or split), from 0."""
    ident = row.get(columns.id) if columns.id else None
    sample_id = str(ident) if ident not in (None, "") else f"{row_prefix(task)}-r{number}"
    sample = RawSample(key=escape_key(sample_id))
    if columns.problem is not None or columns.question is None or columns.image is None:
        sample.error = columns.problem
        return sample
    record = {key: json_value(value) for key, value in row.items()}
    record = {key: value for key, value in record.items() if value is not _DROP}
    record.update(id=sample_id, question=row[columns.question])
    record["answers"] = _answers(row.get(columns.answers)) if columns.answers else []
    if columns.boxes and row.get(columns.boxes) is not None:
        record["evidence_boxes"] = _boxes(json_value(row[columns.boxes]))
    sample.record = record
    sample.image, sample.image_ext, sample.error = row_image(
        row[columns.image],
        columns.image,
        table_root(task),
        task.allow_external_images,
        hub=task.kind == "hf",
    )
    return sample


def row_prefix(task: ShardTask) -> str:
    """The id of a row without an id column: the file's stem, or the hub split, and ``-r<row>``."""
    if task.kind == "hf":
        return task.split or "row"
    return Path(task.source).name.split(".")[0]


def table_root(task: ShardTask) -> Path:
    """The folder that relative image paths of a table are relative to."""
    if task.image_root:
        return Path(task.image_root)
    return Path.cwd() if task.kind == "hf" else Path(task.source).parent


def _batches(task: ShardTask, batch_rows: int) -> tuple[list[str], Iterator[pa.RecordBatch]]:
    if task.kind == "parquet":
        return parquet_batches(Path(task.source), task.start, task.stop, batch_rows)
    if task.kind == "arrow":
        table = arrow_table(Path(task.source))  # memory-mapped: slicing copies nothing
        stop = table.num_rows if task.stop is None else task.stop
        table = table.slice(task.start, stop - task.start)
    else:
        table = hub_rows(task.source, task.hf_config, task.split or "", task.start, task.stop or 0)
    return table.column_names, iter(table.to_batches(max_chunksize=batch_rows))


_READ_ERRORS = (OSError, pa.ArrowException, VEAError, ValueError)


def read_table_shard(task: ShardTask, batch_rows: int = 64) -> Iterator[RawSample]:
    """Yield the samples of rows ``[task.start, task.stop)`` of a table, in row order."""
    number = task.start
    try:
        names, batches = _batches(task, batch_rows)
        columns = resolve_columns(names, task.columns)
        for batch in batches:
            for row in batch.to_pylist():
                yield row_sample(row, number, columns, task)
                number += 1
    except _READ_ERRORS as exc:
        where = task.describe() + (f" from row {number}" if number > task.start else "")
        key = escape_key(f"{row_prefix(task)}-r{number}")
        yield RawSample(key=key, error=f"cannot read {where}: {exc}")
