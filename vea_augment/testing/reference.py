"""Reference implementations the fast code is checked against: plain, slow and obviously
right, for tests only (the method itself never imports them)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from vea_augment.method.smooth import BOUNDARY_MODE, TRUNCATE, checked_canvas


def reference_gaussian_smooth(canvas: np.ndarray, sigma_px: float) -> np.ndarray:
    """Plain full-resolution blur (same mode and truncation); the accuracy yardstick of
    :func:`vea_augment.method.smooth.gaussian_smooth`, validating its arguments the same way.

    Returns float32 of ``canvas``'s shape.
    """
    arr = checked_canvas(canvas, sigma_px)
    blurred = ndimage.gaussian_filter(
        arr.astype(np.float64), sigma=sigma_px, mode=BOUNDARY_MODE, truncate=TRUNCATE
    )
    return blurred.astype(np.float32)
