"""Eq. 4 of the paper: dim everything outside the evidence."""

from __future__ import annotations

import numpy as np

from vea_augment.errors import ConfigError, GeometryError, InvalidScoresError
from vea_augment.method.validation import check_finite_scores

# Masks made in float32 can overshoot [0, 1] by a rounding step; more than this is a bug.
_MASK_TOLERANCE = 1e-5


def highlight_image(image: np.ndarray, mask: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Return ``image * (alpha + (1 - alpha) * mask)`` rounded half-to-even, as uint8 (Eq. 4).

    ``image`` is uint8 ``(H, W, 3)`` (or ``(H, W)`` grayscale), ``mask`` is ``(H, W)`` in
    ``[0, 1]``. Promises: the output has the image's shape; no pixel gets brighter;
    ``alpha == 1`` returns a byte-identical copy; ``mask == 1`` keeps a pixel as it is.
    Raises :class:`GeometryError` on a shape mismatch or a non-uint8 image,
    :class:`ConfigError` if alpha is outside ``[0, 1]``, :class:`InvalidScoresError` if
    the mask holds NaN/inf or leaves ``[0, 1]``.
    """
    if not np.isfinite(alpha) or not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"alpha must lie in [0, 1], got {alpha}")
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise GeometryError(f"image must be uint8, got {img.dtype}")
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
        raise GeometryError(f"image must have shape (H, W, 3) or (H, W), got {img.shape}")
    factor = _checked_mask(mask, img.shape[:2])
    factor *= np.float32(1.0 - alpha)
    factor += np.float32(alpha)
    # Float32 rounding of alpha + (1 - alpha) could land a hair above 1 and brighten.
    np.minimum(factor, np.float32(1.0), out=factor)
    if img.ndim == 3:
        factor = factor[:, :, None]
    out = np.multiply(img, factor, dtype=np.float32)
    np.rint(out, out=out)
    # With 0 <= factor <= 1 every product already lies in [0, 255]: no clip needed.
    return out.astype(np.uint8)


def mask_to_uint8(mask: np.ndarray) -> np.ndarray:
    """Return ``rint(mask * 255)`` as uint8 ``(H, W)``, the 8-bit ``mask.png`` payload."""
    arr = _checked_mask(mask, None)
    arr *= np.float32(255.0)
    np.rint(arr, out=arr)
    return arr.astype(np.uint8)


def _checked_mask(mask: np.ndarray, shape: tuple[int, ...] | None) -> np.ndarray:
    """Return a float32 copy of ``mask`` clipped to [0, 1] after validating it."""
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise GeometryError(f"mask must be 2-D, got shape {arr.shape}")
    if shape is not None and arr.shape != tuple(shape):
        raise GeometryError(f"mask shape {arr.shape} does not match image shape {tuple(shape)}")
    check_finite_scores(arr, "mask")
    out = np.array(arr, dtype=np.float32, copy=True)
    if out.size and (out.min() < -_MASK_TOLERANCE or out.max() > 1.0 + _MASK_TOLERANCE):
        raise InvalidScoresError(
            f"mask values must lie in [0, 1], got range [{out.min()}, {out.max()}]"
        )
    np.clip(out, 0.0, 1.0, out=out)
    return out
