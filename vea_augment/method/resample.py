"""Resampling between a full-resolution canvas and the small working canvas on which
:func:`vea_augment.method.smooth.gaussian_smooth` computes a wide blur.

Down: a tent ("linear splat") average. Each working pixel is the mean of the canvas under a
tent one working pixel wide on either side of its centre, folded back at the image edges as
the blur's ``reflect`` boundary mirrors the canvas. Unlike a box (area) average, the tent
keeps where within a working pixel the canvas's weight lies (first moments): a box moves
each working pixel's content to its centre, a shift of up to half a working pixel that a
min-max normalised blur of a nearly flat map stretches into several grey levels.

Up: bilinear interpolation with pixel centres aligned, clamped at the edges (the same
mirror). Each direction widens the blur by a variance of 1/6 working pixel squared;
``smooth.working_sigmas`` takes those 1/3 off the working sigma.

For the zero-padded borders (``constant``, ``normalized``) nothing folds: the canvas is zero
outside, so the working canvas gets one more pixel on every side to hold the tents that reach
past the edge (:func:`resize_tent_padded`), and the upsampling reads it
(:func:`upsample_padded`). The whole path is then shift-invariant up to the image's edge, and
the resampling widens the blur there as it does inside.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image
from scipy import sparse

#: Variance (in working pixels squared) that tent down- plus bilinear upsampling add.
RESAMPLING_VARIANCE = 1.0 / 3.0


def _tent_cdf(u: np.ndarray) -> np.ndarray:
    """Integral of the unit tent ``max(0, 1 - |t|)`` from -inf to ``u``."""
    u = np.clip(u, -1.0, 1.0)
    return np.where(u <= 0.0, 0.5 * (u + 1.0) ** 2, 1.0 - 0.5 * (1.0 - u) ** 2)


def _tent_matrix(n_in: int, n_out: int, fold: bool = True) -> sparse.csr_matrix:
    """Sparse ``(n_out, n_in)``: ``W[j, i]`` is the integral over input pixel ``i`` of
    working pixel ``j``'s tent, in working pixels, so every row sums to 1 (a weighted mean)
    and every input pixel's weights sum to its width in working pixels.

    ``fold=False``: ``(n_out + 2, n_in)``, row ``j + 1`` holding working pixel ``j`` for
    ``j`` in ``-1..n_out``, nothing folded (the canvas is zero outside: edge rows sum to
    less than 1)."""
    scale = n_out / n_in
    start = np.arange(n_in, dtype=np.float64) * scale
    stop = start + scale
    # Working pixel j is centred at j + 0.5 and its tent spans (j - 0.5, j + 1.5).
    first = np.floor(start - 0.5).astype(np.int64)
    last = np.floor(stop + 0.5).astype(np.int64)
    counts = last - first + 1
    pixel = np.repeat(np.arange(n_in), counts)
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    node = first[pixel] + np.arange(pixel.size) - offsets
    centre = node + 0.5
    weight = _tent_cdf(stop[pixel] - centre) - _tent_cdf(start[pixel] - centre)
    if fold:
        # The mirror images of the first and last working pixels, just outside, fold back.
        node = np.where(node < 0, -node - 1, node)
        node = np.where(node >= n_out, 2 * n_out - 1 - node, node)
        size = n_out
    else:
        node, size = node + 1, n_out + 2
    keep = (weight > 0.0) & (node >= 0) & (node < size)
    return sparse.csr_matrix((weight[keep], (node[keep], pixel[keep])), shape=(size, n_in))


def resize_tent_padded(canvas: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """The tent average of a canvas that is zero outside: ``(rows + 2, cols + 2)`` float64,
    the working canvas with one working pixel more on every side; nothing folds."""
    arr = np.asarray(canvas, dtype=np.float64)
    down_rows = _tent_matrix(arr.shape[0], rows, fold=False)
    down_cols = _tent_matrix(arr.shape[1], cols, fold=False)
    return np.asarray((down_cols @ (down_rows @ arr).T).T)


def _padded_bilinear_matrix(n_full: int, n_work: int) -> sparse.csr_matrix:
    """Sparse ``(n_full, n_work + 2)``: linear interpolation, pixel centres aligned, from a
    working line padded by one pixel on each side (padded pixel ``k`` centred at working
    coordinate ``k - 0.5``) to the full line's pixel centres."""
    position = (np.arange(n_full, dtype=np.float64) + 0.5) * n_work / n_full + 0.5
    lower = np.floor(position).astype(np.int64)
    frac = position - lower
    pixel = np.arange(n_full)
    return sparse.csr_matrix(
        (np.r_[1.0 - frac, frac], (np.r_[pixel, pixel], np.r_[lower, lower + 1])),
        shape=(n_full, n_work + 2),
    )


def upsample_padded(canvas: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Bilinear upsampling of a padded working canvas (:func:`resize_tent_padded`) to
    ``(rows, cols)``; float64, no clamping (the padding holds the edge's neighbours)."""
    arr = np.asarray(canvas, dtype=np.float64)
    up_rows = _padded_bilinear_matrix(rows, arr.shape[0] - 2)
    up_cols = _padded_bilinear_matrix(cols, arr.shape[1] - 2)
    return np.asarray((up_cols @ (up_rows @ arr).T).T)


def padded_line_path(
    n_full: int, n_work: int, blur: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """The zero-padded path applied to a line of ``n_full`` ones: tent down, ``blur`` (the
    working blur along one axis), bilinear up; float64 ``(n_full,)``. The 2-D path of a
    canvas of ones is the outer product of two of these."""
    down = _tent_matrix(n_full, n_work, fold=False) @ np.ones(n_full)
    return _padded_bilinear_matrix(n_full, n_work) @ blur(down)


def resize_tent(canvas: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Downsample ``canvas`` to ``(rows, cols)`` by the folded tent average; float64."""
    arr = np.asarray(canvas, dtype=np.float64)
    down_rows = _tent_matrix(arr.shape[0], rows)
    down_cols = _tent_matrix(arr.shape[1], cols)
    return np.asarray((down_cols @ (down_rows @ arr).T).T)


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
