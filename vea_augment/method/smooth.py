"""Eq. 3, second half: Gaussian smoothing of the painted evidence canvas.

The paper's default sigma is half the shorter image side: 1500 px on a 4000x3000 photo.
A blur that wide carries no detail a coarse grid cannot hold, so it is computed on an
area-averaged canvas where sigma is ``TARGET_WORK_SIGMA`` pixels and resized back with
bilinear interpolation; the error against a full-resolution blur stays well under one
grey level (about ``1 / (8 * TARGET_WORK_SIGMA**2)`` of the map's range).

Boundary: ``mode="reflect"`` (mirror about the image edge). Evidence near a border is not
pulled towards zero, and since the mirror sits on the image edge at any resolution, the
reduced and full-resolution blurs agree at the borders too.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage, sparse

from vea_augment.errors import ConfigError, GeometryError, InvalidScoresError
from vea_augment.method.paint import canvas_shape
from vea_augment.method.validation import check_finite_scores

BOUNDARY_MODE = "reflect"
TRUNCATE = 4.0
# Working sigma aimed for when downsampling; bilinear resampling error ~ 1/(8 s^2).
TARGET_WORK_SIGMA = 16.0
# Never shrink further than this working sigma, even to honour MAX_WORK_SIDE.
MIN_WORK_SIGMA = 8.0
# Longest side of the working canvas, which bounds the blur's cost.
MAX_WORK_SIDE = 1024
# Below this downsampling factor the saving does not pay for two resamplings.
MIN_DOWNSAMPLE = 1.25


def sigma_in_pixels(sigma: float, width: int, height: int) -> float:
    """Convert the paper's sigma convention to pixels of the original image (Eq. 3).

    ``0 < sigma <= 1`` is a fraction of the shorter side (0.5 on a 400x300 image is
    150 px), ``sigma > 1`` is already pixels, ``0`` disables smoothing and returns 0.
    Negative or non-finite sigma raises :class:`ConfigError`.
    """
    if not np.isfinite(sigma) or sigma < 0:
        raise ConfigError(f"sigma must be a finite number >= 0, got {sigma}")
    if width <= 0 or height <= 0:
        raise GeometryError(f"image size must be positive, got {width}x{height}")
    if sigma == 0:
        return 0.0
    if sigma <= 1:
        return float(sigma) * float(min(width, height))
    return float(sigma)


def working_scale(width: int, height: int, sigma_px: float) -> float:
    """Return the canvas scale (<= 1) at which a ``sigma_px`` blur is computed.

    1.0 means full resolution: no smoothing, or a sigma small enough that a downsampled
    canvas would save little. Otherwise the canvas shrinks until sigma is
    ``TARGET_WORK_SIGMA`` working pixels, or further (to at most ``MAX_WORK_SIDE`` on the
    long side) as long as sigma keeps at least ``MIN_WORK_SIGMA`` working pixels.
    """
    if sigma_px <= 0:
        return 1.0
    factor = max(sigma_px / TARGET_WORK_SIGMA, max(width, height) / MAX_WORK_SIDE)
    factor = min(factor, sigma_px / MIN_WORK_SIGMA)
    if factor < MIN_DOWNSAMPLE:
        return 1.0
    return 1.0 / factor


def gaussian_blur(canvas: np.ndarray, sigma_rows: float, sigma_cols: float) -> np.ndarray:
    """Blur ``canvas`` at its own resolution with per-axis sigmas in its own pixels.

    Uses the module's ``BOUNDARY_MODE`` and ``TRUNCATE``. Returns float32.
    """
    if sigma_rows <= 0 and sigma_cols <= 0:
        return np.asarray(canvas, dtype=np.float32).copy()
    # Blur a small working canvas in float64 (cheap); a full-resolution one in float32 to
    # halve its memory, the rounding is far below one grey level.
    dtype = np.float64 if canvas.size <= MAX_WORK_SIDE**2 else np.float32
    blurred = ndimage.gaussian_filter(
        np.asarray(canvas, dtype=dtype),
        sigma=(max(sigma_rows, 0.0), max(sigma_cols, 0.0)),
        mode=BOUNDARY_MODE,
        truncate=TRUNCATE,
    )
    return blurred.astype(np.float32, copy=False)


def resize_area(canvas: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Downsample ``canvas`` to ``(rows, cols)`` by exact area averaging; float32.

    Each output pixel is the mean of the input over its footprint, fractional input
    pixels weighted by the part inside, so the result equals painting at that scale.
    """
    # PIL's BOX filter includes or drops whole input pixels; the sub-pixel shifts that
    # causes survive a wide blur and are stretched by normalisation into visible errors.
    arr = np.asarray(canvas, dtype=np.float64)
    down_rows = _area_matrix(arr.shape[0], rows)
    down_cols = _area_matrix(arr.shape[1], cols)
    reduced = down_rows @ arr
    reduced = (down_cols @ reduced.T).T
    return np.asarray(reduced, dtype=np.float32)


def _area_matrix(n_in: int, n_out: int) -> sparse.csr_matrix:
    """Sparse ``(n_out, n_in)`` matrix averaging input cells over each output cell."""
    step = n_in / n_out
    edges = np.arange(n_out + 1, dtype=np.float64) * step
    first = np.floor(edges[:-1]).astype(np.int64)
    last = np.minimum(np.ceil(edges[1:]).astype(np.int64), n_in)
    counts = last - first
    out_index = np.repeat(np.arange(n_out), counts)
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    in_index = first[out_index] + np.arange(out_index.size) - offsets
    weight = np.minimum(edges[out_index + 1], in_index + 1.0) - np.maximum(
        edges[out_index], in_index
    )
    matrix = sparse.csr_matrix(
        (np.clip(weight, 0.0, None) / step, (out_index, in_index)), shape=(n_out, n_in)
    )
    return matrix


def resize_bilinear(canvas: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Upsample ``canvas`` to ``(rows, cols)`` bilinearly, pixel centres aligned; float32."""
    image = Image.fromarray(np.ascontiguousarray(canvas, dtype=np.float32), mode="F")
    return np.asarray(image.resize((cols, rows), Image.Resampling.BILINEAR), dtype=np.float32)


def gaussian_smooth(canvas: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian-blur a 2-D canvas with ``sigma_px`` (its own pixels); same shape, float32.

    Matches the plain full-resolution blur
    :func:`vea_augment.testing.reference.reference_gaussian_smooth` to within a small fraction
    of the canvas's range, but a large sigma runs at the reduced resolution chosen by
    :func:`working_scale` (area-average down, blur, bilinear up), so its cost does not
    grow with sigma. ``sigma_px == 0`` returns a float32 copy.
    """
    arr = checked_canvas(canvas, sigma_px)
    rows, cols = arr.shape
    scale = working_scale(cols, rows, sigma_px)
    if scale == 1.0:
        return gaussian_blur(arr, sigma_px, sigma_px)
    work_rows, work_cols = canvas_shape(cols, rows, scale)
    small = resize_area(arr, work_rows, work_cols)
    small = gaussian_blur(small, sigma_px * work_rows / rows, sigma_px * work_cols / cols)
    return resize_bilinear(small, rows, cols)


def checked_canvas(canvas: np.ndarray, sigma_px: float) -> np.ndarray:
    """Return ``canvas`` as an array, checked to be a finite, non-empty 2-D canvas.

    Raises :class:`ConfigError` unless ``sigma_px`` is a finite number >= 0, and
    :class:`InvalidScoresError` for a canvas of another shape or with non-finite values.
    """
    if not np.isfinite(sigma_px) or sigma_px < 0:
        raise ConfigError(f"sigma in pixels must be a finite number >= 0, got {sigma_px}")
    arr = np.asarray(canvas)
    if arr.ndim != 2 or arr.size == 0:
        raise InvalidScoresError(f"canvas must be a non-empty 2-D array, got shape {arr.shape}")
    check_finite_scores(arr, "canvas")
    return arr
