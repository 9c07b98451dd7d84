"""Plain data carried between the model side and the paper's math (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from vea_augment.errors import ConfigError


@dataclass(frozen=True)
class TokenView:
    """One view of the image as the model saw it: a grid of image-token scores.

    ``scores`` has shape ``(rows, cols)``; ``boxes`` has shape ``(rows, cols, 4)`` and holds
    each token's ``[x0, y0, x1, y1]`` box in ORIGINAL-image pixels (half-open, floats).
    A model with tiles plus a thumbnail yields several views; tokens that cover no pixel
    (row newlines, tile separators) are not part of any view. ``image_size`` is that original
    image's ``(width, height)`` where known: a box may reach past it (a pad-to-square
    background), and labelling counts only the part of a box inside it
    (:func:`vea_augment.method.labels.evidence_labels`).
    """

    name: str
    scores: np.ndarray
    boxes: np.ndarray
    image_size: tuple[int, int] | None = None

    @property
    def grid_shape(self) -> tuple[int, int]:
        return (int(self.scores.shape[0]), int(self.scores.shape[1]))


BoundaryMode = Literal["reflect", "constant", "normalized"]
"""How the Eq. 3 blur treats the image border: ``reflect`` mirrors the map about it (the
paper's release; a hot token's peak drifts to the nearest edge or corner), ``constant``
pads with zeros (the peak stays on the token, borders darken), ``normalized`` divides the
zero-padded blur by the blur of the image's support indicator (normalised convolution:
borders neither darkened nor mirrored)."""
BOUNDARY_MODES: tuple[BoundaryMode, ...] = get_args(BoundaryMode)


@dataclass(frozen=True)
class MaskConfig:
    """The paper's post-processing knobs with its defaults (DESIGN.md, steps 3-6).

    ``alpha`` is the dimming floor of Eq. 4, ``sigma`` the Gaussian of Eq. 3 (<= 1: a
    fraction of the shorter image side, > 1: pixels, 0: off), ``lam`` the spike factor
    of Eq. 2. ``denoise`` and ``smooth`` switch the paper's ablations. ``boundary`` is the
    blur's border handling (:data:`BoundaryMode`; ``reflect`` is the paper's).
    """

    alpha: float = 0.5
    sigma: float = 0.5
    lam: float = 10.0
    denoise: bool = True
    smooth: bool = True
    boundary: BoundaryMode = "reflect"

    def __post_init__(self) -> None:
        if not np.isfinite(self.alpha) or not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"alpha must lie in [0, 1], got {self.alpha}")
        if not np.isfinite(self.sigma) or self.sigma < 0.0:
            raise ConfigError(
                "sigma must be >= 0 (<= 1: fraction of the shorter side, > 1: pixels), "
                f"got {self.sigma}"
            )
        if not np.isfinite(self.lam) or self.lam <= 0.0:
            raise ConfigError(f"lambda must be > 0, got {self.lam}")
        if self.boundary not in BOUNDARY_MODES:
            raise ConfigError(
                f"boundary must be one of {', '.join(BOUNDARY_MODES)}, got {self.boundary!r}"
            )
