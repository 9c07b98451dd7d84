"""Patch labels from ground-truth evidence boxes (the targets of profiling's AUROC)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from vea_augment.errors import ConfigError
from vea_augment.method.validation import check_box_array

LabelRule = Literal["any", "half", "all"]
DEFAULT_LABEL_RULE: LabelRule = "any"
_RULES: tuple[str, ...] = ("any", "half", "all")
# "all" tolerates float rounding of the covered area, nothing more.
_ALL_TOLERANCE = 1e-9


def covered_fraction(token_boxes: np.ndarray, evidence_boxes: np.ndarray) -> np.ndarray:
    """Fraction of each token box's area inside the UNION of the evidence boxes.

    ``token_boxes`` is ``(..., 4)`` xyxy; the result has shape ``(...)`` with values in
    ``[0, 1]``. Overlapping evidence boxes are not double-counted: their edges cut the
    plane into cells, a cell is covered if any box contains it, and each token sums its
    overlap with the covered cells (exact for axis-aligned boxes). Zero-area tokens get 0.
    Raises :class:`GeometryError` on inverted or non-finite boxes.
    """
    tokens = check_box_array(token_boxes, "token boxes")
    lead_shape = tokens.shape[:-1]
    tokens = tokens.reshape(-1, 4)
    evidence = check_box_array(evidence_boxes, "evidence boxes").reshape(-1, 4)
    evidence = evidence[(evidence[:, 2] > evidence[:, 0]) & (evidence[:, 3] > evidence[:, 1])]
    if evidence.shape[0] == 0 or tokens.shape[0] == 0:
        return np.zeros(lead_shape, dtype=np.float64)

    xs = np.unique(evidence[:, [0, 2]])
    ys = np.unique(evidence[:, [1, 3]])
    # covered[j, i]: cell [xs[i], xs[i+1]] x [ys[j], ys[j+1]] lies inside some box.
    in_x = (evidence[:, 0, None] <= xs[None, :-1]) & (xs[None, 1:] <= evidence[:, 2, None])
    in_y = (evidence[:, 1, None] <= ys[None, :-1]) & (ys[None, 1:] <= evidence[:, 3, None])
    covered = np.einsum("bj,bi->ji", in_y, in_x, dtype=np.float64) > 0

    overlap_x = _overlap(tokens[:, 0], tokens[:, 2], xs)
    overlap_y = _overlap(tokens[:, 1], tokens[:, 3], ys)
    covered_area = np.einsum("nj,ji,ni->n", overlap_y, covered.astype(np.float64), overlap_x)
    area = (tokens[:, 2] - tokens[:, 0]) * (tokens[:, 3] - tokens[:, 1])
    fraction = np.zeros(tokens.shape[0], dtype=np.float64)
    np.divide(covered_area, area, out=fraction, where=area > 0)
    return np.clip(fraction, 0.0, 1.0).reshape(lead_shape)


def evidence_labels(
    token_boxes: np.ndarray, evidence_boxes: np.ndarray, rule: LabelRule = DEFAULT_LABEL_RULE
) -> np.ndarray:
    """Label each token box as evidence (True) or not, from its :func:`covered_fraction`.

    ``"any"``: fraction > 0; ``"half"``: fraction >= 0.5; ``"all"``: fraction >= 1 - 1e-9.
    ``token_boxes`` is ``(N, 4)`` (any leading shape is kept); returns bool ``(N,)``.
    Zero-area tokens are False; no evidence boxes gives all False. An unknown rule raises
    :class:`ConfigError`.
    """
    if rule not in _RULES:
        raise ConfigError(f"label rule must be one of {_RULES}, got {rule!r}")
    fraction = covered_fraction(token_boxes, evidence_boxes)
    if rule == "any":
        return fraction > 0.0
    if rule == "half":
        return fraction >= 0.5
    return fraction >= 1.0 - _ALL_TOLERANCE


def _overlap(lo: np.ndarray, hi: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Length of ``[lo[n], hi[n]]`` inside each interval ``[edges[i], edges[i+1]]``."""
    left = np.maximum(lo[:, None], edges[None, :-1])
    right = np.minimum(hi[:, None], edges[None, 1:])
    return np.clip(right - left, 0.0, None)
