"""Decoding user images safely into 8-bit RGB.

Every PIL mode a corpus may hold (L, LA, P, RGBA, CMYK, I;16, I, F, 1, ...) becomes RGB;
transparent pixels are composited over white, 16-bit and 32-bit images are scaled to 8
bits. Images larger than a pixel limit or a decoded-bytes budget are refused before decoding
their pixels. EXIF orientation is applied to the pixels, and :func:`orient_boxes` applies
the same transpose to evidence boxes given in the stored pixels.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageMode, UnidentifiedImageError

from vea_augment.errors import ImageDecodeError
from vea_augment.options import MAX_DECODED_BYTES, MAX_IMAGE_PIXELS

#: Default pixel limit: admits Visual-CoT's ~35 Mpx pages, refuses decompression bombs.

#: Image formats kept on output, by WebDataset extension.
FORMAT_BY_EXTENSION = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}


@dataclass(frozen=True)
class EncodedImage:
    """An image as stored in a shard: its bytes, format extension and a name for errors."""

    data: bytes
    extension: str
    name: str


def _scale_to_uint8(array: np.ndarray) -> np.ndarray:
    """Linearly map an integer or float image onto 0..255 by its dtype's natural range."""
    if array.dtype == np.uint16 or (array.dtype.kind in "iu" and array.max(initial=0) > 255):
        top = 65535.0 if array.max(initial=0) <= 65535 else float(array.max())
        return np.clip(np.rint(array.astype(np.float64) * (255.0 / top)), 0, 255).astype(np.uint8)
    if array.dtype.kind == "f":
        finite = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        top = 1.0 if finite.max(initial=0.0) <= 1.0 else float(finite.max())
        return np.clip(np.rint(finite * (255.0 / top)), 0, 255).astype(np.uint8)
    return np.clip(array, 0, 255).astype(np.uint8)


def to_rgb(image: Image.Image) -> Image.Image:
    """Return ``image`` as 8-bit RGB, whatever its mode (never raises for a decoded image)."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        gray = _scale_to_uint8(np.asarray(image))
        return Image.fromarray(gray, mode="L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


#: EXIF orientation (tag 0x0112) -> the transpose that shows the image upright.
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class DecodedImage:
    """An upright RGB image and how it was made upright from the stored pixels."""

    image: Image.Image
    #: The EXIF orientation applied (1: none; 2-8 as in the EXIF standard).
    orientation: int = 1
    #: ``(width, height)`` of the pixels as stored, before the orientation was applied.
    stored_size: tuple[int, int] = (0, 0)


def decoded_bytes(image: Image.Image) -> int:
    """Bytes the decoded pixels of an opened (not yet loaded) image take: width x height x
    bands x bytes per band, from the header alone."""
    try:
        itemsize = np.dtype(ImageMode.getmode(image.mode).typestr).itemsize
    except (KeyError, TypeError):
        itemsize = 4  # an unusual mode: assume the widest band PIL has
    return image.width * image.height * len(image.getbands()) * itemsize


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:
        return 1
    return value if value in _ORIENTATION else 1


def orient_boxes(
    boxes: list[tuple[float, float, float, float]], orientation: int, stored_size: tuple[int, int]
) -> list[tuple[float, float, float, float]]:
    """``boxes`` (xyxy in the stored pixels of a ``stored_size`` image) moved by the same
    transpose that EXIF ``orientation`` applies to the pixels, so they cover the same content
    of the upright image."""
    width, height = stored_size
    moved = []
    for x0, y0, x1, y1 in boxes:
        box = {
            2: (width - x1, y0, width - x0, y1),
            3: (width - x1, height - y1, width - x0, height - y0),
            4: (x0, height - y1, x1, height - y0),
            5: (y0, x0, y1, x1),
            6: (height - y1, x0, height - y0, x1),
            7: (height - y1, width - x1, height - y0, width - x0),
            8: (y0, width - x1, y1, width - x0),
        }.get(orientation, (x0, y0, x1, y1))
        moved.append(tuple(float(v) for v in box))
    return moved  # type: ignore[return-value]


def _check_budget(opened: Image.Image, name: str, max_pixels: int, max_bytes: int) -> None:
    width, height = opened.size
    if width * height > max_pixels:
        raise ImageDecodeError(
            f"{name}: {width}x{height} = {width * height} pixels exceeds the "
            f"limit of {max_pixels} (--max-pixels)"
        )
    size = decoded_bytes(opened)
    if size > max_bytes:
        raise ImageDecodeError(
            f"{name}: a {width}x{height} {opened.mode} image decodes to {size} bytes, over the "
            f"budget of {max_bytes} bytes (MAX_DECODED_BYTES)"
        )


def decode_oriented(
    data: bytes | Path | str,
    *,
    max_pixels: int = MAX_IMAGE_PIXELS,
    max_bytes: int = MAX_DECODED_BYTES,
    name: str = "image",
) -> DecodedImage:
    """Decode bytes or a file (PNG, JPEG, WebP, TIFF, BMP; a GIF's first frame) into an
    upright RGB image, with the EXIF orientation it applied (see :func:`orient_boxes`).

    Raises :class:`ImageDecodeError` naming ``name`` when the data is not an image, is
    truncated, has more than ``max_pixels`` pixels or would decode to more than
    ``max_bytes`` bytes (both checked from the header, before the pixels are decoded).
    """
    source = io.BytesIO(data) if isinstance(data, bytes) else Path(data)
    try:
        with warnings.catch_warnings():
            # Our own limit replaces PIL's bomb warning, so one large page is not noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            previous_limit = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
            try:
                with Image.open(source) as opened:
                    _check_budget(opened, name, max_pixels, max_bytes)
                    stored = opened.size
                    orientation = _orientation(opened)
                    opened.load()  # a GIF or a multi-page TIFF: its first frame
                    rgb = to_rgb(opened)
                    if orientation != 1:
                        rgb = rgb.transpose(_ORIENTATION[orientation])
                    elif rgb is opened:
                        rgb = opened.copy()  # closing ``opened`` frees its pixels
                    rgb.load()
            finally:
                Image.MAX_IMAGE_PIXELS = previous_limit
    except ImageDecodeError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageDecodeError(f"{name}: not an image (no known image format)") from exc
    except Exception as exc:
        raise ImageDecodeError(f"{name}: cannot decode image: {exc}") from exc
    if rgb.width == 0 or rgb.height == 0:
        raise ImageDecodeError(f"{name}: image has zero size")
    return DecodedImage(rgb, orientation, stored)


def decode_image(
    data: bytes | Path | str,
    *,
    max_pixels: int = MAX_IMAGE_PIXELS,
    max_bytes: int = MAX_DECODED_BYTES,
    name: str = "image",
) -> Image.Image:
    """:func:`decode_oriented`'s upright RGB image alone (same arguments and errors)."""
    return decode_oriented(data, max_pixels=max_pixels, max_bytes=max_bytes, name=name).image


def encode_image(image: Image.Image | np.ndarray, extension: str) -> bytes:
    """Encode an RGB image (PIL or uint8 array) in the format of ``extension``."""
    fmt = FORMAT_BY_EXTENSION.get(extension.lower().lstrip("."))
    if fmt is None:
        supported = ", ".join(sorted(FORMAT_BY_EXTENSION))
        raise ImageDecodeError(f"unsupported image format {extension!r}; use one of {supported}")
    pil = Image.fromarray(image) if isinstance(image, np.ndarray) else image
    buffer = io.BytesIO()
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    pil.save(buffer, format=fmt, **options)
    return buffer.getvalue()
