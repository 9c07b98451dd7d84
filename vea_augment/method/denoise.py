"""Eq. 2 of the paper: remove isolated spikes (attention sinks) from a token grid."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from vea_augment.errors import ConfigError, InvalidScoresError
from vea_augment.method.validation import check_finite_scores

# 8-neighbourhood with the centre excluded: a spike must not count as its own neighbour.
_NEIGHBOURS = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=bool)


def _checked_grid(grid: np.ndarray, lam: float) -> np.ndarray:
    if not np.isfinite(lam) or lam <= 0:
        raise ConfigError(f"lambda must be > 0, got {lam}")
    arr = np.asarray(grid)
    if arr.ndim != 2:
        raise InvalidScoresError(f"token grid must be 2-D, got shape {arr.shape}")
    check_finite_scores(arr, "token grid")
    return arr


def _spikes_and_means(values: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """``(spikes, neighbour means)`` of a float64 grid of at least 3x3 (Eq. 2's test)."""
    # Padding with -inf (max) and 0 plus an explicit count (mean) keeps out-of-grid cells
    # out of the neighbourhood; edge replication would copy a border spike into it.
    neighbour_max = ndimage.maximum_filter(
        values, footprint=_NEIGHBOURS, mode="constant", cval=-np.inf
    )
    weights = _NEIGHBOURS.astype(np.float64)
    neighbour_sum = ndimage.correlate(values, weights, mode="constant", cval=0.0)
    neighbour_count = ndimage.correlate(np.ones_like(values), weights, mode="constant", cval=0.0)
    spikes = values > lam * neighbour_max
    # A mean cannot exceed the maximum it averages; the clamp only undoes summation
    # rounding, which could otherwise lift a replaced token above every original score.
    return spikes, np.minimum(neighbour_sum / neighbour_count, neighbour_max)


def replaced_cells(grid: np.ndarray, lam: float = 10.0) -> np.ndarray:
    """Boolean mask of the tokens :func:`denoise_grid` replaces (Eq. 2): ``True`` where a
    score is strictly above ``lam`` times the maximum of its in-grid neighbours.

    Same shape as ``grid``; all ``False`` for a grid thinner than 3 in either direction.
    Raises as :func:`denoise_grid` does. A ``True`` at the grid's maximum means the step
    removed the strongest token, which is the evidence itself when one token carries it.
    """
    arr = _checked_grid(grid, lam)
    if arr.shape[0] < 3 or arr.shape[1] < 3:
        return np.zeros(arr.shape, dtype=bool)
    return _spikes_and_means(arr.astype(np.float64), lam)[0]


def denoise_grid(grid: np.ndarray, lam: float = 10.0) -> np.ndarray:
    """Return a copy of ``grid`` with isolated spikes replaced (Eq. 2, one simultaneous pass).

    A token whose score is strictly greater than ``lam`` times the maximum of its in-grid
    neighbours (8 inside, 5 on an edge, 3 at a corner; the centre excluded) is replaced by
    the mean of those same neighbours (:func:`replaced_cells` says which). Every decision
    and every replacement uses the original scores. Grids with fewer than 3 rows or 3
    columns are returned unchanged (as a copy). The input is never modified; the result has
    the input's shape and a floating dtype (the input's own if it is floating, else float64).

    Raises :class:`InvalidScoresError` if ``grid`` is not 2-D or holds NaN/inf, and
    :class:`ConfigError` if ``lam`` is not a positive finite number.
    """
    arr = _checked_grid(grid, lam)
    out_dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.dtype(np.float64)
    if arr.shape[0] < 3 or arr.shape[1] < 3:
        return arr.astype(out_dtype, copy=True)
    values = arr.astype(np.float64)
    spikes, neighbour_mean = _spikes_and_means(values, lam)
    result = np.where(spikes, neighbour_mean, values)
    return result.astype(out_dtype, copy=False)
