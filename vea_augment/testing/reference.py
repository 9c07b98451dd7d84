"""Reference implementations the fast code is checked against: plain, slow and obviously
right, for tests only (the method itself never imports them)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from vea_augment.method.smooth import BOUNDARY_MODE, TRUNCATE, checked_canvas
from vea_augment.method.types import TokenView


def reference_gaussian_smooth(canvas: np.ndarray, sigma_px: float) -> np.ndarray:
    """Plain full-resolution blur (same mode and truncation); the accuracy yardstick of
    :func:`vea_augment.method.smooth.gaussian_smooth`, validating its arguments the same way.

    Returns float64 of ``canvas``'s shape: no rounding of its own, so that a nearly flat
    map, stretched by min-max normalisation, still has an exact yardstick.
    """
    arr = checked_canvas(canvas, sigma_px)
    return ndimage.gaussian_filter(
        arr.astype(np.float64), sigma=sigma_px, mode=BOUNDARY_MODE, truncate=TRUNCATE
    )


def reference_paint(views: Sequence[TokenView], width: int, height: int) -> np.ndarray:
    """:func:`vea_augment.method.paint.paint_views`'s rule in float64, from dense per-pixel
    overlaps: a pixel is the mean of the scores of the boxes over it, each weighted by the
    area of the pixel it covers, and 0 where no box lies. ``(height, width)`` float64."""
    numerator = np.zeros((height, width))
    coverage = np.zeros((height, width))
    for view in views:
        scores = np.asarray(view.scores, dtype=np.float64).reshape(-1)
        boxes = np.asarray(view.boxes, dtype=np.float64).reshape(-1, 4)
        along = _pixel_overlaps(boxes[:, 0], boxes[:, 2], width)
        across = _pixel_overlaps(boxes[:, 1], boxes[:, 3], height)
        coverage += across.T @ along
        numerator += across.T @ (scores[:, None] * along)
    return np.divide(numerator, coverage, out=np.zeros_like(numerator), where=coverage > 0)


def _pixel_overlaps(start: np.ndarray, stop: np.ndarray, side: int) -> np.ndarray:
    """``(boxes, side)``: the length of each ``[start, stop]`` inside each pixel."""
    pixels = np.arange(side, dtype=np.float64)
    inside = np.minimum(stop[:, None], pixels + 1.0) - np.maximum(start[:, None], pixels)
    return np.clip(inside, 0.0, None)
