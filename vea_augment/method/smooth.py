"""Eq. 3, second half: Gaussian smoothing of the painted evidence canvas.

The blur is the paper release's: ``scipy.ndimage.gaussian_filter`` with ``mode="reflect"``
(mirror about the image edge, so evidence near a border is not pulled towards zero) and the
kernel truncated at ``TRUNCATE`` sigma. The border handling is a choice
(:data:`~vea_augment.method.types.BoundaryMode`): at the paper's sigma the mirror images
move a single hot token's peak to the nearest edge or corner (issue 17), so ``constant``
(zero padding) and ``normalized`` (normalised convolution: the zero-padded blur divided by
the blur of the image's support, ``1`` inside) are offered beside it, in both paths below.

The paper's default sigma is half the shorter image side: 1500 px on a 4000x3000 photo, a
kernel of 12,001 taps. Two ways avoid it:

- :func:`blur_runs` (what :func:`vea_augment.method.evidence_mask` uses): a painted canvas
  is constant on runs of pixels between token edges, so the separable blur is a product of
  small matrices whose columns are blurred run indicators (:func:`run_blur_matrix`),
  computed exactly from the kernel's cumulative sums. Same numbers as the full blur.
- :func:`gaussian_smooth` (any canvas): a large sigma runs on a tent-averaged working canvas
  where sigma is ``TARGET_WORK_SIGMA`` pixels (``resample.py``), resized back bilinearly,
  the resamplings' own widening taken off the working sigma. Approximate: within
  ``FAST_BLUR_BOUND`` of the map's range when the blur keeps at least 0.1 % of the
  canvas's range (tests/test_method_smooth.py); a flatter blur, min-max stretched,
  magnifies the difference (measured up to 1.3 / 255 at 1e-4 of the range).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from vea_augment.errors import ConfigError, GeometryError, InvalidScoresError
from vea_augment.method.paint import canvas_shape
from vea_augment.method.resample import (
    RESAMPLING_VARIANCE,
    padded_line_path,
    resize_bilinear,
    resize_tent,
    resize_tent_padded,
    upsample_padded,
)
from vea_augment.method.types import BOUNDARY_MODES, BoundaryMode
from vea_augment.method.validation import check_finite_scores

#: The paper release's border handling, the default of every blur here.
BOUNDARY_MODE: BoundaryMode = "reflect"
TRUNCATE = 4.0
# Working sigma aimed for when downsampling; the resampling error falls as 1 / s^2.
TARGET_WORK_SIGMA = 16.0
# Never shrink further than this working sigma, even to honour MAX_WORK_SIDE.
MIN_WORK_SIGMA = 8.0
# Longest side of the working canvas, which bounds the blur's cost.
MAX_WORK_SIDE = 1024
# Below this downsampling factor the saving does not pay for two resamplings.
MIN_DOWNSAMPLE = 1.25
#: ``gaussian_smooth``'s largest difference from the full-resolution blur, in units of the
#: blurred map's range, wherever that range is at least 0.1 % of the canvas's (measured
#: worst case 0.2 / 255 over random and structured grids).
FAST_BLUR_BOUND = 0.5 / 255.0


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


def working_sigmas(
    sigma_px: float, full: tuple[int, int], work: tuple[int, int]
) -> tuple[float, float]:
    """Per-axis sigma, in working pixels, that blurs a ``work``-shaped canvas resampled from
    and back to ``full`` (rows, cols) as ``sigma_px`` blurs the full canvas: the scaled sigma
    less the variance the tent down- and bilinear upsampling add (``RESAMPLING_VARIANCE``)."""
    sigmas = []
    for full_side, work_side in zip(full, work, strict=True):
        scaled = sigma_px * work_side / full_side
        if work_side == full_side:
            sigmas.append(scaled)
        else:
            sigmas.append(float(np.sqrt(max(scaled**2 - RESAMPLING_VARIANCE, 0.0))))
    return sigmas[0], sigmas[1]


def checked_boundary(boundary: str) -> BoundaryMode:
    """``boundary`` if it is a :data:`BoundaryMode`, else :class:`ConfigError`."""
    if boundary not in BOUNDARY_MODES:
        raise ConfigError(f"boundary must be one of {', '.join(BOUNDARY_MODES)}, got {boundary!r}")
    return boundary  # type: ignore[return-value]


def support_blur(side: int, sigma_px: float) -> np.ndarray:
    """The zero-padded 1-D blur of a line of ``side`` ones: the denominator of normalised
    convolution along one axis (1 in the middle, about 0.5 at the ends when sigma is wide).
    ``sigma_px <= 0`` gives ones."""
    if sigma_px <= 0:
        return np.ones(side)
    return ndimage.gaussian_filter1d(
        np.ones(side), sigma_px, mode="constant", cval=0.0, truncate=TRUNCATE
    )


def gaussian_blur(
    canvas: np.ndarray,
    sigma_rows: float,
    sigma_cols: float,
    boundary: BoundaryMode = BOUNDARY_MODE,
) -> np.ndarray:
    """Blur ``canvas`` at its own resolution with per-axis sigmas in its own pixels (Eq. 3).

    ``boundary``: ``reflect`` (mirror), ``constant`` (zeros outside) or ``normalized`` (the
    zero-padded blur divided by the zero-padded blur of ones, so a constant canvas stays
    exactly that constant). Kernel cut at ``TRUNCATE`` sigma. Returns float64 for a canvas
    of at most ``MAX_WORK_SIDE**2`` pixels (a working canvas), float32 for a larger one.
    """
    boundary = checked_boundary(boundary)
    if sigma_rows <= 0 and sigma_cols <= 0:
        return np.asarray(canvas, dtype=np.float32).copy()
    # Blur a small working canvas in float64 (cheap); a full-resolution one in float32 to
    # halve its memory, the rounding is far below one grey level.
    dtype = np.float64 if canvas.size <= MAX_WORK_SIDE**2 else np.float32
    sigmas = (max(sigma_rows, 0.0), max(sigma_cols, 0.0))
    blurred = ndimage.gaussian_filter(
        np.asarray(canvas, dtype=dtype),
        sigma=sigmas,
        mode="reflect" if boundary == "reflect" else "constant",
        cval=0.0,
        truncate=TRUNCATE,
    )
    if boundary == "normalized":
        # The support of a full image is separable: the blur of ones is an outer product.
        rows, cols = blurred.shape
        support = np.outer(support_blur(rows, sigmas[0]), support_blur(cols, sigmas[1]))
        blurred /= support.astype(dtype, copy=False)
    return blurred


def gaussian_smooth(
    canvas: np.ndarray, sigma_px: float, boundary: BoundaryMode = BOUNDARY_MODE
) -> np.ndarray:
    """Gaussian-blur a 2-D canvas with ``sigma_px`` (its own pixels; Eq. 3) and the border
    handling ``boundary`` (:func:`gaussian_blur`); same shape, float32.

    A small sigma is the plain full-resolution blur
    (:func:`vea_augment.testing.reference.reference_gaussian_smooth`). A large one runs at
    the reduced resolution chosen by :func:`working_scale` (tent average down, blur,
    bilinear up), so its cost does not grow with sigma; it stays within
    ``FAST_BLUR_BOUND`` of the result's range (plus the float32 rounding of the values)
    wherever the blur keeps at least 0.1 % of the canvas's range. ``sigma_px == 0`` returns a
    float32 copy.
    """
    arr = checked_canvas(canvas, sigma_px)
    rows, cols = arr.shape
    scale = working_scale(cols, rows, sigma_px)
    if scale == 1.0:
        return gaussian_blur(arr, sigma_px, sigma_px, boundary).astype(np.float32, copy=False)
    work = canvas_shape(cols, rows, scale)
    sigmas = working_sigmas(sigma_px, (rows, cols), work)
    if boundary != "reflect":
        return _zero_padded_smooth(arr, work, sigmas, boundary)
    small = resize_tent(arr, *work)
    small = gaussian_blur(small, *sigmas)
    # The minimum comes off before the float32 resize, so that a small range on a large
    # offset (a nearly flat map) keeps its resolution.
    offset = float(small.min())
    return resize_bilinear(small - offset, rows, cols) + np.float32(offset)


def _zero_padded_smooth(
    arr: np.ndarray, work: tuple[int, int], sigmas: tuple[float, float], boundary: BoundaryMode
) -> np.ndarray:
    """``gaussian_smooth``'s working-canvas path for a canvas that is zero outside: tent down
    onto a working canvas padded by one pixel (nothing folds), zero-padded blur, bilinear up
    from the padding; ``normalized`` divides by the same path applied to the image's support
    (a separable product of two lines), so a constant canvas stays that constant."""
    rows, cols = arr.shape
    small = gaussian_blur(resize_tent_padded(arr, *work), *sigmas, "constant")
    result = upsample_padded(small, rows, cols)
    if boundary == "normalized":

        def line(n_full: int, n_work: int, sigma: float) -> np.ndarray:
            def blur(down: np.ndarray) -> np.ndarray:
                if sigma <= 0:
                    return down
                return ndimage.gaussian_filter1d(down, sigma, mode="constant", truncate=TRUNCATE)

            return padded_line_path(n_full, n_work, blur)

        result /= np.outer(line(rows, work[0], sigmas[0]), line(cols, work[1], sigmas[1]))
    return result.astype(np.float32)


def gaussian_kernel(sigma_px: float) -> tuple[np.ndarray, int]:
    """``(weights, radius)``: the 1-D kernel ``scipy.ndimage.gaussian_filter`` uses, sampled
    at ``-radius..radius`` (``radius = int(TRUNCATE * sigma + 0.5)``) and summing to 1."""
    radius = int(TRUNCATE * float(sigma_px) + 0.5)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 * (offsets / sigma_px) ** 2)
    return weights / weights.sum(), radius


def run_blur_matrix(
    edges: np.ndarray, side: int, sigma_px: float, boundary: BoundaryMode = BOUNDARY_MODE
) -> np.ndarray:
    """``(side, len(edges) - 1)``: column ``g`` is the 1-D blur (Eq. 3, border ``boundary``,
    the kernel of :func:`gaussian_kernel`) of the indicator of pixels ``[edges[g], edges[g+1])``.

    ``edges`` are ascending whole pixels from 0 to ``side``. Exact, from the kernel's
    cumulative sums: with ``constant`` borders a value is the kernel's weight over the run;
    ``normalized`` divides each row by the weight over the whole line (:func:`support_blur`);
    ``reflect`` makes the line periodic (period ``2 * side``, each period a copy and a
    mirrored copy), so a value sums the cumulative weights over the images of a run.
    """
    boundary = checked_boundary(boundary)
    weights, radius = gaussian_kernel(sigma_px)
    cumulative = np.concatenate([[0.0], np.cumsum(weights)])
    cuts = np.asarray(edges, dtype=np.int64)[None, :]
    pixels = np.arange(side, dtype=np.int64)[:, None]
    if boundary != "reflect":

        def up_to(offset: np.ndarray) -> np.ndarray:
            # The kernel's weight at offsets <= ``offset`` (0 below -radius, 1 above radius).
            return cumulative[np.clip(offset + radius + 1, 0, 2 * radius + 1)]

        # Pixel p receives weight w[q - p] from pixel q, so the blurred indicator of [0, cut)
        # is the weight at offsets up to cut - 1 - p (less a constant per pixel).
        matrix = np.diff(up_to(cuts - 1 - pixels), axis=1)
        if boundary == "normalized":
            matrix /= up_to(side - 1 - pixels) - up_to(-1 - pixels)
        return matrix
    period = 2 * side
    # periodic[q + side] = sum over images j of (weight at offsets <= q + j * period), less
    # one per image at or right of 0 so that the sum converges; the constant cancels below.
    offsets = np.arange(-side, period, dtype=np.int64)
    periodic = np.zeros(offsets.size)
    reach = radius // period + 2
    for image in range(-reach, reach + 1):
        below = cumulative[np.clip(offsets + image * period + radius + 1, 0, 2 * radius + 1)]
        periodic += below - (1.0 if image >= 0 else 0.0)
    # The blurred indicator of [0, cut) at each pixel, up to a constant per pixel: the run
    # itself (positions cut - 1 - p and below) less its mirror image.
    steps = periodic[cuts - 1 - pixels + side] - periodic[period - cuts - 1 - pixels + side]
    return np.diff(steps, axis=1)


def blur_runs(
    xs: np.ndarray,
    ys: np.ndarray,
    runs: np.ndarray,
    width: int,
    height: int,
    sigma_px: float,
    boundary: BoundaryMode = BOUNDARY_MODE,
) -> np.ndarray:
    """The full-resolution blur (Eq. 3, border ``boundary``) of a canvas held as pixel runs
    (``paint.paint_runs``), float64.

    The Gaussian is separable and the canvas is ``runs`` spread over its runs' pixels, so
    the blur is ``rows @ runs @ cols.T`` with each run's blurred indicator as a column of
    ``rows`` and ``cols`` (:func:`run_blur_matrix`): the same numbers as blurring the
    full canvas with :func:`gaussian_blur` (float64 rounding aside), at a cost that grows
    with the number of runs and not with sigma. ``normalized`` stays separable because the
    image's support is a rectangle: its blur is the outer product of the two axes' supports.
    """
    rows = run_blur_matrix(ys, height, sigma_px, boundary)
    cols = run_blur_matrix(xs, width, sigma_px, boundary)
    if runs.shape[1] <= runs.shape[0]:
        return (rows @ runs) @ cols.T
    return rows @ (runs @ cols.T)


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
