"""Input checks shared by the method's steps: finite scores and boxes inside the image."""

from __future__ import annotations

import numpy as np

from vea_augment.errors import GeometryError, InvalidScoresError


def check_finite_scores(scores: np.ndarray, what: str) -> None:
    """Return silently if every value of ``scores`` is finite.

    Raises :class:`InvalidScoresError` naming ``what`` and how many values are NaN and how
    many are infinite, so an error record says which sample and which view went wrong.
    """
    arr = np.asarray(scores)
    real = np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
    if not real or np.issubdtype(arr.dtype, np.complexfloating):
        raise InvalidScoresError(f"{what}: scores must be real numbers, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_:
        return
    finite = np.isfinite(arr)
    if finite.all():
        return
    n_nan = int(np.isnan(arr).sum())
    n_inf = int(np.isinf(arr).sum())
    raise InvalidScoresError(
        f"{what}: scores must be finite, found {n_nan} NaN and {n_inf} inf "
        f"value(s) among {arr.size}"
    )


def check_box_array(boxes: np.ndarray, what: str) -> np.ndarray:
    """Return ``boxes`` as float64 of shape ``(..., 4)`` after checking it is usable.

    Promises: finite coordinates and ``x1 >= x0``, ``y1 >= y0`` for every box; otherwise
    raises :class:`GeometryError` naming ``what``.
    """
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.ndim < 1 or arr.shape[-1] != 4:
        raise GeometryError(f"{what}: boxes must have shape (..., 4), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise GeometryError(f"{what}: box coordinates must be finite")
    inverted = (arr[..., 2] < arr[..., 0]) | (arr[..., 3] < arr[..., 1])
    if inverted.any():
        raise GeometryError(
            f"{what}: {int(inverted.sum())} box(es) have x1 < x0 or y1 < y0 "
            "(boxes are [x0, y0, x1, y1])"
        )
    return arr


def clip_boxes(boxes: np.ndarray, width: int, height: int) -> tuple[np.ndarray, int, int]:
    """Clip xyxy pixel boxes ``(N, 4)`` to the image ``[0, width] x [0, height]``.

    Returns ``(clipped, n_clipped, n_dropped)``: ``clipped`` has shape ``(M, 4)`` and keeps
    the input order; ``n_clipped`` counts kept boxes that had to be cut; ``n_dropped``
    counts boxes with no area inside the image (including zero-area boxes), which are
    removed. Inverted or non-finite boxes raise :class:`GeometryError`.
    """
    if width <= 0 or height <= 0:
        raise GeometryError(f"image size must be positive, got {width}x{height}")
    arr = check_box_array(boxes, "evidence boxes")
    if arr.ndim != 2:
        raise GeometryError(f"evidence boxes: expected shape (N, 4), got {arr.shape}")
    limits = np.array([width, height, width, height], dtype=np.float64)
    clipped = np.clip(arr, 0.0, limits)
    keep = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    changed = np.any(clipped != arr, axis=1)
    n_clipped = int((changed & keep).sum())
    n_dropped = int((~keep).sum())
    return clipped[keep], n_clipped, n_dropped
