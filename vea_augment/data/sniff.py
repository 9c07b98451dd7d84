"""Recognising an input file by its content: magic bytes first, the extension second.

:func:`sniff_file` says which reader takes a file (``tar``, ``tar.gz``, ``parquet``,
``jsonl``, ``json_list``) or, when none does, what the file looks like, in words
("first bytes look like a PNG image"), for the error that names it. An extension only
decides when the content says nothing either way (a tar whose first header is damaged),
never against the content (a PNG named ``.tar`` is a PNG).
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vea_augment.data.safe_json import JSONRecordError, load_json

FileKind = Literal["tar", "parquet", "jsonl", "json_list"]
HEAD_BYTES = 4096

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
JSON_SUFFIXES = (".json",)
PARQUET_SUFFIXES = (".parquet",)

#: Magic bytes of things that are not inputs, for the message that refuses them.
_NOT_INPUTS = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a zip archive (unpack it, or pass its parquet/tar files)"),
    (b"ARROW1", "an Arrow file (pass the save_to_disk folder that holds it)"),
    (b"\xff\xff\xff\xff", "an Arrow stream (pass the save_to_disk folder that holds it)"),
    (b"\x93NUMPY", "a NumPy array"),
    (b"\x80\x04", "a Python pickle"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
    (b"BZh", "bzip2-compressed data"),
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"SQLite format 3", "an SQLite database"),
)


@dataclass(frozen=True)
class Sniffed:
    """What a file is: the kind a reader takes (None: no reader) and a description."""

    kind: FileKind | None
    looks_like: str


def has_suffix(path: Path, suffixes: tuple[str, ...]) -> bool:
    """Whether ``path``'s name ends with one of ``suffixes`` (case-insensitive)."""
    return path.name.lower().endswith(suffixes)


def _is_tar(head: bytes) -> bool:
    return head[257:262] == b"ustar"


def _describe_binary(head: bytes) -> str:
    for magic, what in _NOT_INPUTS:
        if head.startswith(magic):
            return f"first bytes look like {what}"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "first bytes look like a WebP image"
    if head[4:8] == b"ftyp":
        return "first bytes look like an MP4/HEIF container"
    if not head.strip(b"\x00"):
        return "it holds only zero bytes"
    return f"first bytes are {head[:8].hex(' ')} (no known format)"


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _sniff_text(head: bytes, path: Path) -> Sniffed | None:
    """JSON lines (``{`` ... one object a line) or one JSON list (``[``); None if not text."""
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not a multi-byte character cut at the end
            return None
        text = head[: exc.start].decode("utf-8-sig", errors="ignore")
    stripped = text.lstrip()
    if not stripped and len(head) < HEAD_BYTES:
        return Sniffed(None, "it holds only whitespace")
    if stripped.startswith("["):
        return Sniffed("json_list", "a JSON list")
    if stripped.startswith("{"):
        line = _first_line(text)
        complete = len(head) < HEAD_BYTES or "\n" in text.lstrip()
        try:
            parsed = load_json(line) if complete else {}
        except JSONRecordError:
            parsed = None
        if isinstance(parsed, dict) or has_suffix(path, JSONL_SUFFIXES):
            return Sniffed("jsonl", "JSON lines")
        return Sniffed(
            None,
            "it is one JSON object, not a JSON list of records nor one JSON object a line",
        )
    if stripped.lower().startswith(("<!doctype html", "<html")):
        return Sniffed(None, "it is an HTML page")
    if stripped and all(ch.isprintable() or ch in "\r\n\t" for ch in stripped[:200]):
        return Sniffed(None, f"it is text starting {stripped[:40]!r}")
    return None


def _sniff_gzip(path: Path, suffix_kind: FileKind | None) -> Sniffed:
    try:
        with gzip.open(path, "rb") as handle:
            inner = handle.read(512)
    except (OSError, EOFError, zlib.error) as exc:
        if suffix_kind == "tar":
            return Sniffed("tar", "a gzip-compressed tar (its start is damaged)")
        return Sniffed(None, f"it is gzip-compressed data that does not decompress: {exc}")
    if _is_tar(inner) or (suffix_kind == "tar" and not inner.strip(b"\x00")):
        return Sniffed("tar", "a gzip-compressed tar")
    inside = _sniff_text(inner, path)
    what = inside.looks_like if inside is not None else _describe_binary(inner)
    return Sniffed(None, f"it is gzip-compressed but not a tar archive (inside, {what})")


def _suffix_kind(path: Path) -> FileKind | None:
    if has_suffix(path, TAR_SUFFIXES):
        return "tar"
    if has_suffix(path, PARQUET_SUFFIXES):
        return "parquet"
    if has_suffix(path, JSONL_SUFFIXES):
        return "jsonl"
    if has_suffix(path, JSON_SUFFIXES):
        return "json_list"
    return None


def sniff_file(path: Path) -> Sniffed:
    """What ``path`` holds, from its first bytes (and its name where they say nothing)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError as exc:
        return Sniffed(None, f"it cannot be read: {exc.strerror or exc}")
    suffix_kind = _suffix_kind(path)
    if not head:
        return Sniffed(None, "it is empty")
    if head.startswith(b"PAR1"):
        return Sniffed("parquet", "a parquet file")
    if head.startswith(b"\x1f\x8b"):
        return _sniff_gzip(path, suffix_kind)
    if _is_tar(head):
        return Sniffed("tar", "a tar archive")
    known = any(head.startswith(magic) for magic, _ in _NOT_INPUTS)
    text = None if known else _sniff_text(head, path)
    if text is not None:
        return text
    looks_like = _describe_binary(head)
    if suffix_kind in ("tar", "parquet") and not known:
        # The content names no format (a damaged first header): trust the name; the reader
        # reports what it cannot read as error records.
        return Sniffed(suffix_kind, f"a {suffix_kind} file by its name ({looks_like})")
    return Sniffed(None, looks_like)
