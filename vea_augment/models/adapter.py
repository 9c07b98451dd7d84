"""The boundary every VLM family implements: where its image tokens sit, which pixels they cover.

An adapter is the only model-specific code in the tool. Given the processor's output for one
row of a batch and the ORIGINAL image size, it returns one :class:`ViewLayout` per view the
model saw (a single resized image, or tiles plus a thumbnail). Each layout holds, for a
``(rows, cols)`` grid of image tokens, their positions in the row's ``input_ids`` and their
``[x0, y0, x1, y1]`` boxes in original-image pixels. Tokens that cover no pixels (row
newlines, tile separators) belong to no layout.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np


@dataclass(frozen=True)
class ViewLayout:
    """One view's image-token grid: sequence positions and original-pixel boxes.

    ``positions`` has shape ``(rows, cols)`` (indices into the row's token sequence, after
    any left padding); ``boxes`` has shape ``(rows, cols, 4)``.
    """

    name: str
    positions: np.ndarray
    boxes: np.ndarray

    @property
    def grid_shape(self) -> tuple[int, int]:
        return (int(self.positions.shape[0]), int(self.positions.shape[1]))


class FamilyAdapter(ABC):
    """Model-family geometry. Subclasses set ``model_types`` and implement ``layouts``."""

    #: ``config.model_type`` values this adapter serves (e.g. ``("qwen2_vl",)``).
    model_types: ClassVar[tuple[str, ...]] = ()
    #: Human-readable family name for ``vea-augment models``.
    family: ClassVar[str] = ""
    #: Model ids (tiny configs) the adapter is tested with, listed by ``vea-augment models``.
    tested_with: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any, processor: Any) -> None:
        self.config = config
        self.processor = processor

    @abstractmethod
    def layouts(
        self,
        inputs: Mapping[str, Any],
        row: int,
        original_size: tuple[int, int],
    ) -> list[ViewLayout]:
        """Return the views of batch row ``row``; ``original_size`` is ``(width, height)``.

        Must raise :class:`vea_augment.errors.GeometryError` when the number of image
        tokens found in ``input_ids`` differs from what the processor's geometry implies
        (e.g. truncated by a max-length setting): never guess a grid.
        """
