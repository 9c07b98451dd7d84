"""The layouts fine-tuning code reads, written from augmented samples: one writer per format.

- ``llava``: ``llava.json`` (a JSON list) + ``images/``,
- ``sharegpt``: ``sharegpt.jsonl`` (from/value turns) + ``images/`` + ``dataset_info.json``,
- ``sharegpt-messages``: ``sharegpt-messages.jsonl`` (role/content messages) + ``images/`` +
  ``dataset_info.json``,
- ``parquet``: ``data.parquet`` (the images inside, as ``Image`` features).

Image files are named after the sample key: ``<key>.<ext>`` (highlighted) and
``<key>.orig.<ext>`` (original); paths in the JSON files are ``images/<file>``, relative to
the file's folder.
"""

from __future__ import annotations

from pathlib import Path

from vea_augment.data.export_formats.base import (
    IMAGES_DIR,
    ExportedImage,
    ExportRow,
    ExportWriter,
    image_file_name,
)
from vea_augment.data.export_formats.llava import LlavaWriter
from vea_augment.data.export_formats.parquet import ParquetExportWriter
from vea_augment.data.export_formats.sharegpt import (
    DATASET_INFO,
    ShareGPTMessagesWriter,
    ShareGPTWriter,
)
from vea_augment.options import ExportFormat
from vea_augment.schemas.prediction import ImageKind

WRITERS: dict[ExportFormat, type[ExportWriter]] = {
    "llava": LlavaWriter,
    "sharegpt": ShareGPTWriter,
    "sharegpt-messages": ShareGPTMessagesWriter,
    "parquet": ParquetExportWriter,
}


def open_writer(
    export_format: ExportFormat, output: Path, kinds: tuple[ImageKind, ...]
) -> ExportWriter:
    """The writer of ``export_format`` into ``output`` for rows carrying ``kinds``."""
    return WRITERS[export_format](output, kinds)


__all__ = [
    "DATASET_INFO",
    "IMAGES_DIR",
    "WRITERS",
    "ExportRow",
    "ExportWriter",
    "ExportedImage",
    "image_file_name",
    "open_writer",
]
