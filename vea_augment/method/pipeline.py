"""The method end to end: token views -> evidence mask (Eqs. 2-3, step 5) -> highlight."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from vea_augment.errors import GeometryError
from vea_augment.method.denoise import denoise_grid
from vea_augment.method.highlight import highlight_image
from vea_augment.method.normalize import min_max_normalize
from vea_augment.method.paint import canvas_shape, paint_runs, paint_views
from vea_augment.method.smooth import blur_runs, sigma_in_pixels
from vea_augment.method.types import MaskConfig, TokenView


def evidence_mask(
    views: Sequence[TokenView], width: int, height: int, config: MaskConfig | None = None
) -> np.ndarray:
    """Turn token scores into an evidence map at the original resolution.

    Steps, in order: denoise each view's grid (Eq. 2, if ``config.denoise``); paint all
    views onto one full-resolution canvas (coverage-weighted mean, Eq. 3); Gaussian-blur it
    (Eq. 3, if ``config.smooth`` and sigma > 0); min-max normalise (step 5).

    The blur is exact at any sigma without a huge kernel: the painted canvas is constant
    on runs of pixels between token edges (:func:`~vea_augment.method.paint.paint_runs`),
    so the separable blur is a product of small matrices
    (:func:`~vea_augment.method.smooth.blur_runs`), equal to blurring the full-resolution
    canvas with ``scipy.ndimage.gaussian_filter`` (truncated at 4 sigma, with the border
    handling ``config.boundary``: ``reflect`` as the paper's release does) up to float64
    rounding. Its cost grows with the image and the
    number of distinct token edges, not with sigma. Normalisation comes last, so the
    result's extremes are exactly 0 and 1 (a constant map gives all zeros).

    Returns float32 ``(height, width)`` in ``[0, 1]``. Raises :class:`GeometryError` if
    there are no views or the size is not positive, and the errors of the steps.
    """
    config = config if config is not None else MaskConfig()
    if len(views) == 0:
        raise GeometryError("no token views: the model produced no image tokens to paint")
    canvas_shape(width, height)  # validates the size before any work
    if config.denoise:
        views = [replace(v, scores=denoise_grid(np.asarray(v.scores), config.lam)) for v in views]
    sigma_px = sigma_in_pixels(config.sigma, width, height) if config.smooth else 0.0
    if sigma_px == 0:
        return min_max_normalize(paint_views(views, width, height))
    xs, ys, runs = paint_runs(views, width, height)
    blurred = blur_runs(xs, ys, runs, width, height, sigma_px, config.boundary)
    return min_max_normalize(blurred, overwrite=True)


def highlight_with_views(
    image: np.ndarray, views: Sequence[TokenView], config: MaskConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(highlighted uint8 image, float32 mask)`` for ``image`` (H, W[, 3]).

    The mask is :func:`evidence_mask` at the image's own size; the image is dimmed by
    Eq. 4 with ``config.alpha``.
    """
    config = config if config is not None else MaskConfig()
    arr = np.asarray(image)
    if arr.ndim not in (2, 3):
        raise GeometryError(f"image must have shape (H, W, 3) or (H, W), got {arr.shape}")
    height, width = int(arr.shape[0]), int(arr.shape[1])
    mask = evidence_mask(views, width, height, config)
    return highlight_image(arr, mask, config.alpha), mask
