"""Patch labels from ground-truth evidence boxes (the targets of profiling's AUROC)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from vea_augment.errors import ConfigError, GeometryError
from vea_augment.method.validation import check_box_array

LabelRule = Literal["any", "half", "all"]
DEFAULT_LABEL_RULE: LabelRule = "any"
_RULES: tuple[str, ...] = ("any", "half", "all")
# "all" tolerates float rounding of the covered area, nothing more.
_ALL_TOLERANCE = 1e-9


def covered_fraction(
    token_boxes: np.ndarray,
    evidence_boxes: np.ndarray,
    image_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Fraction of each token box's area inside the UNION of the evidence boxes.

    ``token_boxes`` is ``(..., 4)`` xyxy; the result has shape ``(...)`` with values in
    ``[0, 1]``. Overlapping evidence boxes are not double-counted: their edges cut the
    plane into cells, a cell is covered if any box contains it, and each token sums its
    overlap with the covered cells (exact for axis-aligned boxes). Zero-area tokens get 0.

    With ``image_size = (width, height)`` only image pixels count: each token box is first cut
    to ``[0, width] x [0, height]``, so a token partly over a pad background is measured by
    its image part, and a token wholly outside the image (over padding alone) gets 0 however
    far an evidence box reaches past the image's edge. Raises :class:`GeometryError` on
    inverted or non-finite boxes, or an image size that is not positive.
    """
    tokens = check_box_array(token_boxes, "token boxes")
    lead_shape = tokens.shape[:-1]
    tokens = tokens.reshape(-1, 4)
    if image_size is not None:
        tokens = _inside_image(tokens, image_size)
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
    token_boxes: np.ndarray,
    evidence_boxes: np.ndarray,
    rule: LabelRule = DEFAULT_LABEL_RULE,
    image_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Label each token box as evidence (True) or not, from its :func:`covered_fraction`.

    ``"any"``: fraction > 0; ``"half"``: fraction >= 0.5; ``"all"``: fraction >= 1 - 1e-9.
    ``token_boxes`` is ``(N, 4)`` (any leading shape is kept); returns bool ``(N,)``.
    Zero-area tokens are False; no evidence boxes gives all False. With ``image_size``
    ``(width, height)`` the fractions count image pixels only, so a token that covers no
    image pixel (a pad token of a pad-to-square view) is never evidence. An unknown rule
    raises :class:`ConfigError`.
    """
    if rule not in _RULES:
        raise ConfigError(f"label rule must be one of {_RULES}, got {rule!r}")
    fraction = covered_fraction(token_boxes, evidence_boxes, image_size)
    if rule == "any":
        return fraction > 0.0
    if rule == "half":
        return fraction >= 0.5
    return fraction >= 1.0 - _ALL_TOLERANCE


def _inside_image(tokens: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """``(N, 4)`` token boxes cut to the image ``[0, width] x [0, height]`` (a box wholly
    outside it keeps no area)."""
    width, height = image_size
    if not (np.isfinite(width) and np.isfinite(height) and width > 0 and height > 0):
        raise GeometryError(f"image size must be positive, got {width}x{height}")
    return np.clip(tokens, 0.0, np.array([width, height, width, height], dtype=np.float64))


def _overlap(lo: np.ndarray, hi: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Length of ``[lo[n], hi[n]]`` inside each interval ``[edges[i], edges[i+1]]``."""
    left = np.maximum(lo[:, None], edges[None, :-1])
    right = np.minimum(hi[:, None], edges[None, 1:])
    return np.clip(right - left, 0.0, None)
