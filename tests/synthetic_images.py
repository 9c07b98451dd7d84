"""Test images shared by the test modules: seeded RGB noise and its encoded bytes."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def noise_image(width: int, height: int, seed: int = 0) -> Image.Image:
    """A ``width`` x ``height`` RGB image of uniform noise, the same for the same seed."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


def encoded(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    """``image`` saved in ``fmt`` (with PIL save ``options``, e.g. EXIF) as bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()
