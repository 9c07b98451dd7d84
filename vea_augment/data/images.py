"""Decoding user images safely into 8-bit RGB.

Every PIL mode a corpus may hold (L, LA, P, RGBA, CMYK, I;16, I, F, 1, ...) becomes RGB;
transparent pixels are composited over white, 16-bit and 32-bit images are scaled to 8
bits. Images larger than a pixel limit are refused before decoding their pixels.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from vea_augment.errors import ImageDecodeError
from vea_augment.options import MAX_IMAGE_PIXELS

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


def decode_image(
    data: bytes | Path | str,
    *,
    max_pixels: int = MAX_IMAGE_PIXELS,
    name: str = "image",
) -> Image.Image:
    """Decode bytes or a file into an RGB image, honouring EXIF orientation.

    Raises :class:`ImageDecodeError` naming ``name`` when the data is not an image, is
    truncated, or has more than ``max_pixels`` pixels (checked from the header, before the
    pixels are decoded).
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
                    width, height = opened.size
                    if width * height > max_pixels:
                        raise ImageDecodeError(
                            f"{name}: {width}x{height} = {width * height} pixels exceeds the "
                            f"limit of {max_pixels} (--max-pixels)"
                        )
                    opened.load()
                    image = ImageOps.exif_transpose(opened) or opened
                    rgb = to_rgb(image)
                    rgb.load()
            finally:
                Image.MAX_IMAGE_PIXELS = previous_limit
    except ImageDecodeError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(f"{name}: cannot decode image: {exc}") from exc
    if rgb.width == 0 or rgb.height == 0:
        raise ImageDecodeError(f"{name}: image has zero size")
    return rgb


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
