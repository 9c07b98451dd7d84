"""How well a finished evidence mask covers the ground-truth evidence: pixel-level AUROC and
NDCG of the mask's cells against the evidence boxes.

The profile scores token rows; this scores what users actually get, the mask painted at
the original resolution, so masks made by any model (a delegate included) are comparable.
"""

from __future__ import annotations

import math

import numpy as np

from vea_augment.method.labels import evidence_labels
from vea_augment.method.ranking_metrics import auroc, ndcg

#: Masks are scored on cells of at most this many pixels per side of the longer edge: exact
#: enough for boxes of a few pixels, cheap for 35-Mpx pages.
DEFAULT_MAX_CELLS_PER_SIDE = 256


def cell_means(mask: np.ndarray, factor: int) -> np.ndarray:
    """Mean of ``mask`` over ``factor`` × ``factor`` blocks (the last row/column of blocks may
    be narrower: each block averages only the pixels it holds)."""
    height, width = mask.shape
    rows = np.arange(0, height, factor)
    cols = np.arange(0, width, factor)
    sums = np.add.reduceat(np.add.reduceat(mask.astype(np.float64), rows, axis=0), cols, axis=1)
    counts = np.outer(np.diff(np.append(rows, height)), np.diff(np.append(cols, width)))
    return sums / counts


def cell_boxes(height: int, width: int, factor: int) -> np.ndarray:
    """The ``(rows, cols, 4)`` xyxy pixel boxes of the blocks used by :func:`cell_means`."""
    ys = np.append(np.arange(0, height, factor), height).astype(np.float64)
    xs = np.append(np.arange(0, width, factor), width).astype(np.float64)
    x0, y0 = np.meshgrid(xs[:-1], ys[:-1])
    x1, y1 = np.meshgrid(xs[1:], ys[1:])
    return np.stack([x0, y0, x1, y1], axis=-1)


def cell_scores_and_labels(
    mask: np.ndarray,
    evidence_boxes: np.ndarray | list,
    max_cells_per_side: int = DEFAULT_MAX_CELLS_PER_SIDE,
) -> tuple[np.ndarray, np.ndarray]:
    """``(cell means, evidence labels)``, both flat: the mask averaged over square cells (at
    most ``max_cells_per_side`` along the longer edge), a cell evidence when at least half of
    its area lies inside the union of the boxes (same pixel frame as the mask).

    Raises :class:`ValueError` for a mask that is not a non-empty 2-D array or a
    ``max_cells_per_side`` below 1.
    """
    if mask.ndim != 2 or 0 in mask.shape:
        raise ValueError(f"mask must be a non-empty 2-D array, got shape {mask.shape}")
    if max_cells_per_side < 1:
        raise ValueError(f"max_cells_per_side must be >= 1, got {max_cells_per_side}")
    height, width = mask.shape
    factor = max(1, math.ceil(max(height, width) / max_cells_per_side))
    boxes = np.asarray(evidence_boxes, dtype=np.float64).reshape(-1, 4)
    labels = evidence_labels(cell_boxes(height, width, factor), boxes, rule="half")
    return cell_means(mask, factor).ravel(), labels.ravel()


def mask_auroc(
    mask: np.ndarray,
    evidence_boxes: np.ndarray | list,
    max_cells_per_side: int = DEFAULT_MAX_CELLS_PER_SIDE,
) -> float:
    """AUROC of a ``(height, width)`` mask against evidence boxes in the same pixel frame,
    over the cells of :func:`cell_scores_and_labels`. Returns NaN when every cell has the
    same label (no box, or a box over everything)."""
    return auroc(*cell_scores_and_labels(mask, evidence_boxes, max_cells_per_side))


def mask_auroc_ndcg(
    mask: np.ndarray,
    evidence_boxes: np.ndarray | list,
    max_cells_per_side: int = DEFAULT_MAX_CELLS_PER_SIDE,
) -> tuple[float, float]:
    """``(AUROC, NDCG)`` of the mask's cells against the evidence boxes
    (:func:`cell_scores_and_labels`; NDCG over all cells, binary gains, ties sharing their
    group's mean gain). Both NaN when every cell has the same label."""
    scores, labels = cell_scores_and_labels(mask, evidence_boxes, max_cells_per_side)
    return auroc(scores, labels), ndcg(scores, labels)
