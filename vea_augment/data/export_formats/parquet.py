"""One parquet file with the images inside, typed for ``datasets``: ``data.parquet``.

Columns: ``id``, ``key``, ``image`` (one image) or ``images`` (original, highlighted),
``question``, ``prompt`` (the text shown), ``answer`` (the reference trained on),
``answers`` (every reference) and ``dataset``. An image is the ``Image`` feature's struct
``{bytes, path}`` (``path`` is the file name it has in the JSON layouts) and the schema
carries the Hugging Face features metadata, so ``datasets.load_dataset("parquet", ...)``
sees ``Image`` features (``Sequence(Image())`` for ``images``) without ``datasets`` being
needed to write it. Rows are streamed in row groups, so memory stays bounded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from vea_augment.data.export_formats.base import ExportRow, ExportWriter
from vea_augment.schemas.prediction import ImageKind

ROWS_PER_GROUP = 512
BYTES_PER_GROUP = 64 * 2**20
"""A row group is written when it holds this many rows or image bytes, whichever first."""

_IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
_STRING = {"dtype": "string", "_type": "Value"}
_TEXT_COLUMNS = ("id", "key", "question", "prompt", "answer")


def image_column(kinds: tuple[ImageKind, ...]) -> str:
    """``image`` for one image per row, ``images`` for several."""
    return "image" if len(kinds) == 1 else "images"


def export_schema(kinds: tuple[ImageKind, ...]) -> pa.Schema:
    """The arrow schema with the Hugging Face features of an export of ``kinds``."""
    single = len(kinds) == 1
    column = image_column(kinds)
    image_type = _IMAGE if single else pa.list_(_IMAGE)
    image_feature = {"_type": "Image"}
    features: dict[str, Any] = {name: _STRING for name in _TEXT_COLUMNS[:2]}
    features[column] = image_feature if single else {"feature": image_feature, "_type": "Sequence"}
    features.update({name: _STRING for name in _TEXT_COLUMNS[2:]})
    features["answers"] = {"feature": _STRING, "_type": "Sequence"}
    features["dataset"] = _STRING
    fields = [(name, pa.string()) for name in _TEXT_COLUMNS[:2]]
    fields.append((column, image_type))
    fields += [(name, pa.string()) for name in _TEXT_COLUMNS[2:]]
    fields += [("answers", pa.list_(pa.string())), ("dataset", pa.string())]
    metadata = {"huggingface": json.dumps({"info": {"features": features}})}
    return pa.schema(fields, metadata=metadata)


class ParquetExportWriter(ExportWriter):
    """``data.parquet``, images embedded."""

    file_name = "data.parquet"

    def __init__(self, output: Path, kinds: tuple[ImageKind, ...]) -> None:
        super().__init__(output, kinds)
        self.schema = export_schema(kinds)
        self._column = image_column(kinds)
        self._writer = pq.ParquetWriter(str(self._temporary), self.schema)
        self._buffer: dict[str, list[Any]] = {name: [] for name in self.schema.names}
        self._buffered_bytes = 0

    def _write(self, row: ExportRow) -> None:
        images = [{"bytes": image.data, "path": image.file_name} for image in row.images]
        values = {name: getattr(row, name) for name in _TEXT_COLUMNS}
        values |= {"answers": list(row.answers), "dataset": row.dataset}
        values[self._column] = images[0] if len(images) == 1 else images
        for name, value in values.items():
            self._buffer[name].append(value)
        self._buffered_bytes += sum(len(image.data) for image in row.images)
        if len(self._buffer["id"]) >= ROWS_PER_GROUP or self._buffered_bytes >= BYTES_PER_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self._buffer["id"]:
            self._writer.write_table(pa.Table.from_pydict(self._buffer, schema=self.schema))
        self._buffer = {name: [] for name in self.schema.names}
        self._buffered_bytes = 0

    def _finish(self) -> None:
        self._flush()
        self._writer.close()

    def _close(self) -> None:
        self._writer.close()
