"""The oracle highlight: Eq. 4 with a mask built from the ground-truth evidence boxes.

It stands for a perfect VEA mask, the upper bound of what highlighting can do for a model.

The pixel rule is the one ``labels.py`` and ``mask_quality.mask_auroc`` use: boxes are
regions of the continuous plane in original pixels, pixel ``(x, y)`` is the unit square
``[x, x + 1] x [y, y + 1]``, and a pixel is evidence when at least half of its area lies
inside the UNION of the boxes (the ``"half"`` rule of :func:`labels.evidence_labels`;
overlaps are not counted twice). For integer boxes this is exactly ``x0 <= x < x1`` and
``y0 <= y < y1``. Only pixels of the image exist, so boxes are in effect clipped to it.
"""

from __future__ import annotations

import numpy as np

from vea_augment.errors import GeometryError
from vea_augment.method.highlight import highlight_image
from vea_augment.method.validation import check_box_array, clip_boxes

#: Rows of coverage computed at a time: bounds the float64 scratch on 35-Mpx pages.
_ROW_CHUNK = 512
#: The share of a pixel's area that must lie inside the boxes (labels' "half" rule).
_HALF = 0.5


def oracle_mask(evidence_boxes: np.ndarray | list, width: int, height: int) -> np.ndarray:
    """The ``(height, width)`` float32 mask: 1.0 on evidence pixels, 0.0 elsewhere.

    ``evidence_boxes`` is ``(N, 4)`` xyxy in pixels (``N`` may be 0: an all-zero mask). A
    pixel is 1 when at least half its area lies inside the union of the boxes; boxes may
    reach past the image. Raises :class:`GeometryError` on a size that is not positive or
    on inverted or non-finite boxes.
    """
    if int(width) != width or int(height) != height or width <= 0 or height <= 0:
        raise GeometryError(f"image size must be positive integers, got {width}x{height}")
    width, height = int(width), int(height)
    arr = np.asarray(evidence_boxes, dtype=np.float64)
    if arr.size == 0:
        arr = arr.reshape(0, 4)
    arr = check_box_array(arr, "evidence boxes")
    mask = np.zeros((height, width), dtype=np.float32)
    boxes, _, _ = clip_boxes(arr.reshape(-1, 4), width, height)
    if boxes.shape[0] == 0:
        return mask
    # The box edges cut the image into cells; a cell is covered when a box contains it.
    xs = np.unique(boxes[:, [0, 2]])
    ys = np.unique(boxes[:, [1, 3]])
    in_x = (boxes[:, 0, None] <= xs[None, :-1]) & (xs[None, 1:] <= boxes[:, 2, None])
    in_y = (boxes[:, 1, None] <= ys[None, :-1]) & (ys[None, 1:] <= boxes[:, 3, None])
    covered = (in_y.T.astype(np.float64) @ in_x.astype(np.float64)) > 0
    # The pixel grid is a product of columns and rows, so a pixel's covered area is
    # overlap_y[row] @ covered @ overlap_x[col]: two small matrices, no per-pixel loop.
    overlap_x = _unit_overlaps(width, xs)
    overlap_y = _unit_overlaps(height, ys)
    rows_by_cell = overlap_y @ covered.astype(np.float64)
    for start in range(0, height, _ROW_CHUNK):
        stop = min(start + _ROW_CHUNK, height)
        area = rows_by_cell[start:stop] @ overlap_x.T
        mask[start:stop] = area >= _HALF
    return mask


def oracle_highlight(
    image: np.ndarray, evidence_boxes: np.ndarray | list, alpha: float
) -> np.ndarray:
    """Eq. 4 (:func:`highlight_image`) of ``image`` with the :func:`oracle_mask` of its boxes.

    ``image`` is uint8 ``(H, W, 3)`` or ``(H, W)``; evidence pixels keep their values, every
    other pixel becomes ``rint(value * alpha)``. Raises what those two functions raise.
    """
    pixels = np.asarray(image)
    if pixels.ndim not in (2, 3):
        raise GeometryError(f"image must have shape (H, W, 3) or (H, W), got {pixels.shape}")
    height, width = pixels.shape[:2]
    return highlight_image(pixels, oracle_mask(evidence_boxes, width, height), alpha)


def _unit_overlaps(size: int, edges: np.ndarray) -> np.ndarray:
    """``(size, len(edges) - 1)``: length of pixel ``[i, i + 1]`` inside each edge interval."""
    start = np.arange(size, dtype=np.float64)[:, None]
    left = np.maximum(start, edges[None, :-1])
    right = np.minimum(start + 1.0, edges[None, 1:])
    return np.clip(right - left, 0.0, None)
