"""What every reader yields: :class:`RawSample`, and the image facts readers share."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "tif", "tiff", "gif", "bmp")
"""Image members a sample may hold (GIF: its first frame is used)."""

#: Image formats by their first bytes (WebP is ``RIFF....WEBP``, checked apart).
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"II*\x00", "tif"),
    (b"MM\x00*", "tif"),
    (b"BM", "bmp"),
)


@dataclass
class RawSample:
    """One sample as read: its key, JSON record and image bytes, or why it is unreadable."""

    key: str
    record: dict[str, Any] | None = None
    #: The key as the input had it, when :func:`~vea_augment.data.readers.read_shard` had to
    #: change it (sanitised, or renamed as a duplicate); None when ``key`` is the input's.
    source_key: str | None = None
    image: bytes | None = None
    image_ext: str | None = None
    error: str | None = None
    ignored_members: list[str] = field(default_factory=list)
    #: The bytes of the ignored members (e.g. an output shard's ``mask.png``, ``orig.jpg``).
    extras: dict[str, bytes] = field(default_factory=dict)


def image_extension(data: bytes, path: str | None = None) -> str | None:
    """The image's extension from its magic bytes, else from ``path``'s suffix, else None.

    Nothing is decoded: a worker decodes the bytes later, under the pixel limit.
    """
    for magic, extension in _IMAGE_MAGIC:
        if data.startswith(magic):
            return extension
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    suffix = Path(path).suffix.lower().lstrip(".") if path else ""
    return suffix or None


def read_image_file(root: Path, name: str) -> tuple[bytes | None, str | None, str | None]:
    """``(bytes, extension, None)`` for the image ``name`` (absolute, or relative to
    ``root``), or ``(None, None, reason)``."""
    path = Path(name) if Path(name).is_absolute() else root / name
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, None, f"cannot read image {str(path)!r}: {exc.strerror or exc}"
    return data, image_extension(data, name) or "jpg", None
