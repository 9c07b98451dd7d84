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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from vea_augment.errors import GeometryError


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

    #: Key of the language model's config inside ``model.config`` (for per-sub-config kernels).
    text_config_key: ClassVar[str] = "text_config"

    def __init__(self, config: Any, processor: Any) -> None:
        self.config = config
        self.processor = processor

    def text_config(self) -> Any:
        """The language model's config (the one whose attention is captured)."""
        return getattr(self.config, self.text_config_key, None) or self.config

    def attention_modules(self, model: Any) -> list[Any]:
        """Decoder layer l's self-attention module at index l, for every decoder layer."""
        decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
        layers = getattr(decoder, "layers", None)
        if layers is None:
            raise GeometryError(
                f"cannot find the decoder layers of {type(model).__name__}; "
                "override attention_modules in its adapter"
            )
        return [layer.self_attn for layer in layers]

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


def image_token_positions(input_ids: Any, image_token_id: int, expected: int) -> np.ndarray:
    """Indices of ``image_token_id`` in one row of ``input_ids``; exactly ``expected`` of them.

    A different count means the prompt was truncated (a max-length setting) or the processor
    and the model disagree: a :class:`GeometryError`, never a guessed grid.
    """
    ids = np.asarray(input_ids.cpu() if hasattr(input_ids, "cpu") else input_ids)
    positions = np.flatnonzero(ids == image_token_id)
    if positions.size != expected:
        raise GeometryError(
            f"found {positions.size} image tokens in the prompt but the image needs {expected}; "
            "was the prompt truncated by a max-length setting?"
        )
    return positions


def grid_boxes(
    rows: int,
    cols: int,
    cell_width: float,
    cell_height: float,
    offset_x: float = 0.0,
    offset_y: float = 0.0,
) -> np.ndarray:
    """``(rows, cols, 4)`` xyxy boxes of a regular grid of cells starting at the offset."""
    xs = offset_x + cell_width * np.arange(cols + 1, dtype=np.float64)
    ys = offset_y + cell_height * np.arange(rows + 1, dtype=np.float64)
    boxes = np.empty((rows, cols, 4), dtype=np.float64)
    boxes[..., 0] = xs[None, :-1]
    boxes[..., 1] = ys[:-1, None]
    boxes[..., 2] = xs[None, 1:]
    boxes[..., 3] = ys[1:, None]
    return boxes


def effective_image_settings(processor: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    """The image-geometry settings a processor call really uses, for the keys of ``defaults``.

    Each starts from ``defaults``, is replaced by the image processor's own attribute where it
    is set, and then by the processor's ``images_kwargs`` (passed to every image-processor
    call, so they win) where those are set.
    """
    settings = dict(defaults)
    image_processor = getattr(processor, "image_processor", None)
    for key in settings:
        value = getattr(image_processor, key, None)
        if value is not None:
            settings[key] = value
    for key, value in (getattr(processor, "images_kwargs", None) or {}).items():
        if key in settings and value is not None:
            settings[key] = value
    return settings


Rectangle = tuple[float, float, float, float]


def tile_rectangles(width: float, height: float, rows: int, cols: int) -> list[Rectangle]:
    """The ``rows × cols`` equal tiles of a ``width × height`` image, in raster order."""
    return [
        (c * width / cols, r * height / rows, (c + 1) * width / cols, (r + 1) * height / rows)
        for r in range(rows)
        for c in range(cols)
    ]


def rectangle_views(
    names: Sequence[str],
    rectangles: Sequence[Rectangle],
    input_ids: Any,
    image_token_id: int,
    grid: tuple[int, int],
    coverage: tuple[float, float] = (1.0, 1.0),
) -> list[ViewLayout]:
    """One view per rectangle of the original image (a tile, a crop, a thumbnail), each a
    ``grid = (rows, cols)`` of image tokens whose cells spread evenly over its rectangle.

    ``coverage = (across, down)`` is the fraction of each rectangle's width and height that
    the grid covers, from its top-left corner: less than 1 where the vision tower's patches
    stop short of the processed frame's edge (SmolVLM's 27 patches of 14 px see 378 of its
    384 px), so that no token claims the pixels no patch sees.

    The views' tokens stand in the prompt in view order, so the row must hold exactly
    ``rows x cols x len(rectangles)`` image tokens (else :class:`GeometryError`).
    """
    rows, cols = grid
    across, down = coverage
    if not (0.0 < across <= 1.0 and 0.0 < down <= 1.0):
        raise GeometryError(f"a token grid covers a fraction in (0, 1] of its view, not {coverage}")
    expected = rows * cols * len(rectangles)
    positions = image_token_positions(input_ids, image_token_id, expected=expected)
    views = []
    blocks = positions.reshape(len(rectangles), rows, cols)
    for name, block, (x0, y0, x1, y1) in zip(names, blocks, rectangles, strict=True):
        boxes = grid_boxes(
            rows,
            cols,
            cell_width=(x1 - x0) * across / cols,
            cell_height=(y1 - y0) * down / rows,
            offset_x=x0,
            offset_y=y0,
        )
        views.append(ViewLayout(name, np.ascontiguousarray(block), boxes))
    return views
