"""Token grids and property-test settings shared by the method tests (``test_method_*.py``)."""

from __future__ import annotations

import numpy as np
from hypothesis import settings

PROPERTY = settings(max_examples=50, deadline=None)
"""Examples per property test: enough to find edge cases, quick on two cores."""
ONE_GREY_LEVEL = 1.0 / 255.0
"""One step of an 8-bit mask or image: the tolerance of the fast paths."""


def box_grid(x0: float, y0: float, x1: float, y1: float, rows: int, cols: int) -> np.ndarray:
    """Boxes ``(rows, cols, 4)`` of a grid that tiles ``[x0, x1] x [y0, y1]`` exactly."""
    xs = np.linspace(x0, x1, cols + 1)
    ys = np.linspace(y0, y1, rows + 1)
    boxes = np.empty((rows, cols, 4))
    boxes[..., 0] = xs[None, :-1]
    boxes[..., 2] = xs[None, 1:]
    boxes[..., 1] = ys[:-1, None]
    boxes[..., 3] = ys[1:, None]
    return boxes


def grid_boxes(width: float, height: float, rows: int, cols: int) -> np.ndarray:
    """Boxes ``(rows, cols, 4)`` of a grid that tiles ``[0, width] x [0, height]`` exactly."""
    return box_grid(0, 0, width, height, rows, cols)
