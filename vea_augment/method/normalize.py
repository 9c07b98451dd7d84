"""Step 5 of the method: min-max normalisation of an evidence map to [0, 1]."""

from __future__ import annotations

import numpy as np

from vea_augment.method.validation import check_finite_scores

# A range this small relative to the values' magnitude is float32 rounding noise (a blurred
# constant canvas, say); stretching it to [0, 1] would invent structure.
RELATIVE_EPS = 1e-6


def min_max_normalize(x: np.ndarray, overwrite: bool = False) -> np.ndarray:
    """Return ``(x - min) / (max - min)`` as float32, every value in ``[0, 1]``.

    A constant map, one whose range is at most ``RELATIVE_EPS`` times its largest
    magnitude, becomes all zeros (the paper's "no evidence" case), as does an empty array.
    ``overwrite`` lets a float array be normalised in its own memory (a full-resolution
    map need not be copied). Raises :class:`InvalidScoresError` on NaN/inf.
    """
    arr = np.asarray(x)
    check_finite_scores(arr, "evidence map")
    if arr.size == 0:
        return np.zeros(arr.shape, dtype=np.float32)
    lo = float(arr.min())
    hi = float(arr.max())
    span = hi - lo
    if span <= RELATIVE_EPS * max(abs(lo), abs(hi)) or span == 0.0:
        return np.zeros(arr.shape, dtype=np.float32)
    # Subtract in the input's own precision (float32 stays float32 to save memory on
    # full-resolution maps) so a small range on a large offset keeps its resolution.
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    in_place = overwrite and arr.dtype == dtype and arr.flags.writeable
    work = arr if in_place else arr.astype(dtype, copy=True)
    work -= dtype(lo)
    # Divide rather than multiply by 1 / span: a subnormal span has an infinite reciprocal.
    work /= dtype(span)
    np.clip(work, 0.0, 1.0, out=work)
    return work.astype(np.float32, copy=False)
