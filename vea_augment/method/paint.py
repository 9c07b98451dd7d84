"""Eq. 3, first half: paint token scores onto a pixel canvas in original-image space."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

from vea_augment.errors import ConfigError, GeometryError, InvalidScoresError
from vea_augment.method.types import TokenView
from vea_augment.method.validation import check_box_array, check_finite_scores


def canvas_shape(width: int, height: int, scale: float = 1.0) -> tuple[int, int]:
    """Return the ``(rows, cols)`` of a canvas ``scale`` times the image's size.

    Each side is ``round(side * scale)`` and at least 1. Boxes painted onto it are scaled
    per axis by ``cols / width`` and ``rows / height``, so the canvas always spans exactly
    the whole image even when rounding makes the two factors differ slightly.
    """
    _check_size(width, height)
    if not np.isfinite(scale) or scale <= 0:
        raise ConfigError(f"canvas scale must be > 0, got {scale}")
    return max(1, round(height * scale)), max(1, round(width * scale))


def paint_views(
    views: Sequence[TokenView], width: int, height: int, scale: float = 1.0
) -> np.ndarray:
    """Paint every view's token scores onto one ``canvas_shape(width, height, scale)`` canvas.

    Token boxes are in original-image pixels (half-open, fractional edges allowed). A
    pixel's value is the coverage-weighted mean of the scores of all tokens, from all
    views, that overlap it; a token's weight is the fraction of the pixel's area its box
    covers (the product of the two 1-D overlaps, so fractional edges are exact). Pixels no
    token covers are 0. Box parts outside the image are ignored. Returns float32.

    Tiles and a thumbnail are two estimates of the same pixels; averaging them by coverage
    gives each estimate the same say wherever both cover a pixel (DESIGN.md, Geometry).

    Raises :class:`InvalidScoresError` if a view's scores hold NaN/inf, and
    :class:`GeometryError` if its boxes do not have shape ``scores.shape + (4,)`` or are
    inverted or non-finite; both name the view.
    """
    rows, cols = canvas_shape(width, height, scale)
    numerator = np.zeros((rows, cols), dtype=np.float32)
    coverage = np.zeros((rows, cols), dtype=np.float32)
    to_canvas = np.array([cols / width, rows / height, cols / width, rows / height])
    for view in views:
        scores, boxes = _checked_view(view)
        _accumulate(numerator, coverage, scores, boxes * to_canvas)
    covered = coverage > 0
    # Divide only where something was painted; 0/0 would otherwise turn into NaN.
    np.divide(numerator, coverage, out=numerator, where=covered)
    numerator[~covered] = 0.0
    return numerator


def paint_runs(
    views: Sequence[TokenView], width: int, height: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The full-resolution painted canvas, held as runs of equal pixels: ``(xs, ys, runs)``.

    ``xs`` and ``ys`` are ascending whole-pixel edges (0, every box edge rounded down and
    up, and the image side); every pixel of ``[xs[j], xs[j+1]) x [ys[i], ys[i+1])`` has
    the value ``runs[i, j]`` that :func:`paint_views` gives it (no box edge lies inside a
    run), so the canvas is ``runs`` repeated over the runs' pixels, without making it.
    Float64. Raises as :func:`paint_views` does.
    """
    _check_size(width, height)
    checked = [_checked_view(view) for view in views]
    scores = np.concatenate([item[0] for item in checked] or [np.zeros(0)])
    boxes = np.concatenate([item[1] for item in checked] or [np.zeros((0, 4))])
    xs = _pixel_run_edges(boxes[:, 0::2], width)
    ys = _pixel_run_edges(boxes[:, 1::2], height)
    # Token t covers run (i, j) by across[t, i] * along[t, j] (the two 1-D overlaps).
    along = _overlaps(boxes[:, 0], boxes[:, 2], xs)
    across = _overlaps(boxes[:, 1], boxes[:, 3], ys)
    coverage = (across.T @ along).toarray()
    numerator = (across.T @ sparse.diags(scores) @ along).toarray()
    runs = np.divide(numerator, coverage, out=np.zeros_like(numerator), where=coverage > 0)
    return xs, ys, runs


def _overlaps(start: np.ndarray, stop: np.ndarray, edges: np.ndarray) -> sparse.csr_matrix:
    """Sparse ``(len(start), len(edges) - 1)``: the length of ``[start, stop]`` (clipped to
    the edges' span) inside each cell ``[edges[k], edges[k + 1]]``."""
    start = np.clip(start, edges[0], edges[-1])
    stop = np.clip(stop, edges[0], edges[-1])
    first = np.searchsorted(edges, start, side="right") - 1
    last = np.searchsorted(edges, stop, side="left")
    counts = np.where(stop > start, last - first, 0)
    token = np.repeat(np.arange(start.size), counts)
    cell = first[token] + np.arange(token.size) - np.repeat(np.cumsum(counts) - counts, counts)
    length = np.minimum(stop[token], edges[cell + 1]) - np.maximum(start[token], edges[cell])
    return sparse.csr_matrix((length, (token, cell)), shape=(start.size, edges.size - 1))


def _pixel_run_edges(edges: np.ndarray, side: int) -> np.ndarray:
    """The whole-pixel edges that bracket every box edge, plus 0 and ``side``, ascending."""
    clipped = np.clip(edges.reshape(-1), 0.0, float(side))
    return np.unique(np.concatenate([[0.0, float(side)], np.floor(clipped), np.ceil(clipped)]))


def _check_size(width: int, height: int) -> None:
    if int(width) != width or int(height) != height or width <= 0 or height <= 0:
        raise GeometryError(f"image size must be positive integers, got {width}x{height}")


def _checked_view(view: TokenView) -> tuple[np.ndarray, np.ndarray]:
    what = f"view {view.name!r}"
    scores = np.asarray(view.scores)
    check_finite_scores(scores, what)
    boxes = np.asarray(view.boxes)
    expected = (*scores.shape, 4)
    if boxes.shape != expected:
        raise GeometryError(
            f"{what}: boxes have shape {boxes.shape}, expected scores.shape + (4,) = {expected}"
        )
    boxes = check_box_array(boxes, what)
    if scores.dtype == np.bool_:
        scores = scores.astype(np.float64)
    if not np.issubdtype(scores.dtype, np.number):
        raise InvalidScoresError(f"{what}: scores must be numeric, got {scores.dtype}")
    return scores.reshape(-1).astype(np.float64), boxes.reshape(-1, 4)


def _accumulate(
    numerator: np.ndarray, coverage: np.ndarray, scores: np.ndarray, boxes: np.ndarray
) -> None:
    """Add each token's coverage block (and score-weighted block) in place."""
    rows, cols = coverage.shape
    x0 = np.clip(boxes[:, 0], 0.0, cols)
    y0 = np.clip(boxes[:, 1], 0.0, rows)
    x1 = np.clip(boxes[:, 2], 0.0, cols)
    y1 = np.clip(boxes[:, 3], 0.0, rows)
    ix0 = np.floor(x0).astype(np.int64)
    iy0 = np.floor(y0).astype(np.int64)
    ix1 = np.ceil(x1).astype(np.int64)
    iy1 = np.ceil(y1).astype(np.int64)
    painted = (x1 > x0) & (y1 > y0)
    for t in np.flatnonzero(painted):
        px = np.arange(ix0[t], ix1[t], dtype=np.float64)
        py = np.arange(iy0[t], iy1[t], dtype=np.float64)
        wx = np.minimum(x1[t], px + 1.0) - np.maximum(x0[t], px)
        wy = np.minimum(y1[t], py + 1.0) - np.maximum(y0[t], py)
        block = np.outer(wy, wx).astype(np.float32)
        region = (slice(iy0[t], iy1[t]), slice(ix0[t], ix1[t]))
        coverage[region] += block
        block *= np.float32(scores[t])
        numerator[region] += block
