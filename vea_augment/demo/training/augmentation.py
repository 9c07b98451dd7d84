"""Photometric augmentation of the demo model's training images, blind to the evidence.

A model trained on natural images has seen photographs brighter and darker, flatter and
harsher, and with parts in shadow; the bundled model, trained only on the corpus's clean
renders, had not, so VEA's dimming of everything outside the mask (Eq. 4) cost it answers
even with perfect masks. Each training image is therefore, with some probability, changed
in global brightness and contrast and softly dimmed around (or inside) random blobs.

What is changed is drawn from a generator seeded by the batch's seed and the image's place
in the batch, and nothing here is given a sample, a box or a question: the change cannot
depend on where the evidence is, so the model learns no hint of VEA's mask from it (which
would tune the demo towards VEA's result).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

AUGMENTATION_SEED_OFFSET = 700_000_000
"""Augmentation generators never share a seed with the corpus's scenes."""


@dataclass(frozen=True)
class PhotometricAugmentation:
    """How often and how strongly images are changed (``probability`` 0 switches it off)."""

    probability: float = 0.6
    brightness: tuple[float, float] = (0.7, 1.3)
    contrast: tuple[float, float] = (0.7, 1.3)
    #: Of the augmented images, the share also dimmed softly around random blobs.
    dimming_probability: float = 0.6
    #: The dimmed pixels keep this factor of their value at least (VEA's alpha is 0.5).
    dim_floor: tuple[float, float] = (0.35, 0.85)
    max_blobs: int = 3


@dataclass(frozen=True)
class PhotometricDraw:
    """One image's change: ``pixel * brightness`` after contrast about mid-grey, then the
    soft dimming ``x (floor + (1 - floor) * map)`` where ``map`` is 1 on the kept blobs
    (``inverted``: the blobs are the dimmed part). ``blobs`` are (centre x, centre y, sigma x,
    sigma y) as fractions of the width and height; no blobs means no dimming."""

    brightness: float = 1.0
    contrast: float = 1.0
    floor: float = 1.0
    blobs: tuple[tuple[float, float, float, float], ...] = ()
    inverted: bool = False


def draw_change(rng: np.random.Generator, schedule: PhotometricAugmentation) -> PhotometricDraw:
    """The change for one image, from ``rng`` alone (identity when not augmented)."""
    if rng.random() >= schedule.probability:
        return PhotometricDraw()
    brightness = float(rng.uniform(*schedule.brightness))
    contrast = float(rng.uniform(*schedule.contrast))
    if rng.random() >= schedule.dimming_probability:
        return PhotometricDraw(brightness, contrast)
    count = int(rng.integers(1, schedule.max_blobs + 1))
    blobs = tuple(
        (
            float(rng.uniform(0, 1)),
            float(rng.uniform(0, 1)),
            float(rng.uniform(0.08, 0.3)),
            float(rng.uniform(0.08, 0.3)),
        )
        for _ in range(count)
    )
    floor = float(rng.uniform(*schedule.dim_floor))
    return PhotometricDraw(brightness, contrast, floor, blobs, bool(rng.random() < 0.5))


def dimming_map(change: PhotometricDraw, width: int, height: int) -> np.ndarray:
    """The ``(height, width)`` multiplier of the soft dimming, in ``[floor, 1]``."""
    if not change.blobs:
        return np.ones((height, width))
    xs = (np.arange(width) + 0.5) / width
    ys = (np.arange(height) + 0.5) / height
    kept = np.zeros((height, width))
    for cx, cy, sx, sy in change.blobs:
        blob = np.exp(
            -((xs[None, :] - cx) ** 2) / (2 * sx**2) - (ys[:, None] - cy) ** 2 / (2 * sy**2)
        )
        kept = np.maximum(kept, blob)
    if change.inverted:
        kept = 1.0 - kept
    return change.floor + (1.0 - change.floor) * kept


def apply_change(image: Image.Image, change: PhotometricDraw) -> Image.Image:
    """``image`` changed as ``change`` says (a new RGB image; rounded and clipped to uint8)."""
    if change == PhotometricDraw():
        return image.copy()
    pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    pixels = ((pixels - 127.5) * change.contrast + 127.5) * change.brightness
    pixels *= dimming_map(change, image.width, image.height)[..., None]
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))


def augment_images(
    images: Sequence[Image.Image], seed: int, schedule: PhotometricAugmentation
) -> list[Image.Image]:
    """Every image changed by the draw of generator ``(AUGMENTATION_SEED_OFFSET + seed, i)``
    for its place ``i``: the same seed gives the same changes whatever the images show."""
    return [
        apply_change(
            image,
            draw_change(np.random.default_rng([AUGMENTATION_SEED_OFFSET + seed, i]), schedule),
        )
        for i, image in enumerate(images)
    ]
