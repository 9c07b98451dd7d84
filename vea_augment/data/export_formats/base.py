"""What every export writer shares: the row it is given, image file names, the commit.

A writer writes its data file under a temporary name and renames it into place on
:meth:`ExportWriter.commit`; leaving its context without a commit (an exception, an empty
export) removes the temporary file, so a data file in the output folder is always whole.
Images go into ``images/`` under names derived from the sample key, the same names on every
run, each written under a temporary name and renamed.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar

from vea_augment.data.keys import escape_key
from vea_augment.schemas.prediction import ImageKind

IMAGES_DIR = "images"
"""The image folder of the JSON layouts, beside their data file."""
IMAGE_PLACEHOLDER = "<image>"
"""LLaVA's and LLaMA-Factory's image token in the human turn, one per image."""
_TEMP_MARK = ".tmp-"


def file_stem(key: str) -> str:
    """The file name stem of a sample: its key, which augment keeps free of ``.`` and ``/``
    (a key that is not is escaped with :func:`~vea_augment.data.keys.escape_key`)."""
    if key and not any(character in key for character in "./\\\x00"):
        return key
    return escape_key(key)


def image_file_name(key: str, kind: ImageKind, extension: str) -> str:
    """``<key>.<ext>`` for the highlighted image, ``<key>.orig.<ext>`` for the original."""
    middle = ".orig" if kind == "original" else ""
    return f"{file_stem(key)}{middle}.{extension.lower()}"


@dataclass(frozen=True)
class ExportedImage:
    """One image of a row: which one it is, its file name and its encoded bytes."""

    kind: ImageKind
    file_name: str
    data: bytes


@dataclass(frozen=True)
class ExportRow:
    """One training sample: the prompt shown, the answer trained on, the images in order."""

    id: str
    key: str
    question: str
    prompt: str
    answer: str
    answers: tuple[str, ...]
    images: tuple[ExportedImage, ...]
    dataset: str | None = None

    def human_text(self) -> str:
        """The human turn: one ``<image>`` line per image, then the prompt."""
        return f"{IMAGE_PLACEHOLDER}\n" * len(self.images) + self.prompt


def temporary_beside(path: Path) -> Path:
    """A fresh temporary name next to ``path``."""
    return path.with_name(f"{path.name}{_TEMP_MARK}{uuid.uuid4().hex}")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` under a temporary name, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_beside(path)
    temporary.write_bytes(data)
    os.replace(temporary, path)


class ExportWriter:
    """Writes one export: rows in, one data file (and extras) out; a context manager.

    ``kinds`` are the images every row carries, in order. Subclasses set :attr:`file_name`
    and implement :meth:`_write` and :meth:`_finish` (close the temporary data file).
    """

    file_name: ClassVar[str]

    def __init__(self, output: Path, kinds: tuple[ImageKind, ...]) -> None:
        self.output = Path(output)
        self.kinds = kinds
        self.output.mkdir(parents=True, exist_ok=True)
        self.path = self.output / self.file_name
        for stale in self.output.glob(f"{self.file_name}{_TEMP_MARK}*"):
            stale.unlink(missing_ok=True)  # left by a killed export
        self._temporary = temporary_beside(self.path)
        self.rows = 0
        self._committed = False

    def write(self, row: ExportRow) -> None:
        """Add one row (its images are written at once)."""
        shown = tuple(image.kind for image in row.images)
        if shown != self.kinds:
            raise ValueError(f"row {row.key!r} carries images {shown}, the export {self.kinds}")
        self._write(row)
        self.rows += 1

    def commit(self) -> list[Path]:
        """Finish the data file and make it visible; returns every file written but images."""
        self._finish()
        os.replace(self._temporary, self.path)
        self._committed = True
        return [self.path, *self._extras()]

    def abort(self) -> None:
        """Remove the unfinished data file (nothing once committed)."""
        if not self._committed:
            self._close()
            self._temporary.unlink(missing_ok=True)

    def _write(self, row: ExportRow) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        """Release the open data file without finishing it."""

    def _extras(self) -> list[Path]:
        """Files written on commit beside the data file (none by default)."""
        return []

    def __enter__(self) -> ExportWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.abort()


class JsonRowsWriter(ExportWriter):
    """Rows as JSON values (a JSON list or JSON lines), images into ``images/``.

    Every image path in the file is relative to the file's folder: ``images/<file>``.
    """

    json_list: ClassVar[bool] = False

    def __init__(self, output: Path, kinds: tuple[ImageKind, ...]) -> None:
        super().__init__(output, kinds)
        self._handle: IO[str] = open(self._temporary, "w", encoding="utf-8")  # noqa: SIM115
        if self.json_list:
            self._handle.write("[")

    def encode(self, row: ExportRow, paths: list[str]) -> dict[str, Any]:
        """The JSON value of ``row`` whose images were written to ``paths``."""
        raise NotImplementedError

    def save_image(self, image: ExportedImage) -> str:
        """Write ``image`` into the image folder; its path relative to the data file."""
        write_bytes_atomic(self.output / IMAGES_DIR / image.file_name, image.data)
        return f"{IMAGES_DIR}/{image.file_name}"

    def _write(self, row: ExportRow) -> None:
        paths = [self.save_image(image) for image in row.images]
        value = json.dumps(self.encode(row, paths), ensure_ascii=False)
        if self.json_list:
            self._handle.write(("\n" if self.rows == 0 else ",\n") + value)
        else:
            self._handle.write(value + "\n")

    def _finish(self) -> None:
        if self.json_list:
            self._handle.write("\n]\n" if self.rows else "]\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()

    def _close(self) -> None:
        self._handle.close()
