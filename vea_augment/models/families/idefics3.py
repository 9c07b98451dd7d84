"""Idefics3 and SmolVLM: image splitting into squares plus the global image.

The image processor (the same geometry for both) resizes the image so its longest edge is
``size["longest_edge"]`` (aspect kept, the other side rounded up to even), then, with
``do_image_splitting``, resizes it to whole multiples of the square side
``M = max_image_size["longest_edge"]`` (``resize_for_vision_encoder``) and cuts it into
``rows × cols`` squares in raster order, followed by the global image (the whole image squashed
to ``M × M``); an image that fits in one square, or any image without splitting, is the global
image alone. Both resizes scale the whole image, so square (r, c) covers exactly
``[c·W/cols, (c+1)·W/cols) × [r·H/rows, (r+1)·H/rows)`` of the original. The vision tower
cuts each ``M``-px square into ``p = M // patch_size`` patches a side (a stride-``patch_size``
convolution without padding): where ``patch_size`` does not divide ``M`` the last ``M - p·patch``
pixel rows and columns reach no patch (SmolVLM: 27 patches of 14 px see 378 of 384 px), so the
tokens cover only the first ``p·patch / M`` of each square's width and height. The connector
pixel-shuffles the ``p × p`` patches (``scale_factor`` s) to ``p/s × p/s`` tokens in raster
order. In the prompt each square's tokens follow ``<fake_token_around_image><row_r_col_c>``
and the global image's follow ``<global-img>``; those markers and the row newlines cover no pixels.

Views: ``tile_0``, ``tile_1``, ... (raster order) and ``global``. Where tiles and the global
image cover the same pixels, painting averages them.

The processor drops its ``rows``/``cols`` outputs, so the split is recomputed here from the
original size with the processor's settings and checked against the number of image tokens.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from vea_augment.errors import GeometryError
from vea_augment.models.adapter import (
    FamilyAdapter,
    ViewLayout,
    effective_image_settings,
    rectangle_views,
    tile_rectangles,
)
from vea_augment.models.registry import register_adapter

#: ``MAX_IMAGE_SIZE`` of the image processors: no side is resized above 4096 px.
_MAX_SIDE = 4096


def _entry(size: Any, key: str) -> int | None:
    value = size.get(key) if isinstance(size, Mapping) else getattr(size, key, None)
    return None if value is None else int(value)


def resized_for_longest_edge(width: int, height: int, longest_edge: int) -> tuple[int, int]:
    """``(width, height)`` after the first resize: longest edge to ``longest_edge``, aspect kept,
    the other side truncated and rounded up to even, then all of it kept under 4096 px."""
    aspect = width / height
    if width >= height:
        width = longest_edge
        height = int(width / aspect)
        height += height % 2
    else:
        height = longest_edge
        width = int(height * aspect)
        width += width % 2
    height, width = max(height, 1), max(width, 1)
    aspect = width / height
    if width >= height and width > _MAX_SIDE:
        width, height = _MAX_SIDE, int(_MAX_SIDE / aspect)
    elif height > width and height > _MAX_SIDE:
        height, width = _MAX_SIDE, int(_MAX_SIDE * aspect)
    return max(width, 1), max(height, 1)


def split_grid(width: int, height: int, square: int) -> tuple[int, int]:
    """``(rows, cols)`` of squares after ``resize_for_vision_encoder``; ``(0, 0)``: no split."""
    aspect = width / height
    if width >= height:
        width = math.ceil(width / square) * square
        height = math.ceil(int(width / aspect) / square) * square
    else:
        height = math.ceil(height / square) * square
        width = math.ceil(int(height * aspect) / square) * square
    if height > square or width > square:
        return height // square, width // square
    return 0, 0


@register_adapter
class Idefics3Adapter(FamilyAdapter):
    """The squares in raster order, then the global image."""

    model_types = ("idefics3", "smolvlm")
    family = "Idefics3 / SmolVLM (image splitting + global image)"
    tested_with = ("tiny idefics3", "tiny smolvlm")
    text_config_key = "text_config"

    def __init__(self, config: Any, processor: Any) -> None:
        super().__init__(config, processor)
        self.patch_size = int(config.vision_config.patch_size)
        patches = int(config.vision_config.image_size) // self.patch_size
        scale = int(config.scale_factor)
        self.side = patches // scale
        self.scale = scale
        self.tokens_per_square = self.side * self.side
        expected = int(getattr(processor, "image_seq_len", self.tokens_per_square))
        if expected != self.tokens_per_square or self.side * scale != patches:
            raise GeometryError(
                f"the processor puts {expected} tokens per square but the model's connector makes "
                f"({patches} / {scale})^2 = {self.tokens_per_square}"
            )
        self.image_token_id = int(config.image_token_id)

    def settings(self) -> dict[str, Any]:
        """The image processor's geometry settings, with the processor's own defaults on top."""
        keys = ("do_resize", "size", "do_image_splitting", "max_image_size")
        return effective_image_settings(self.processor, dict.fromkeys(keys))

    def square_side(self) -> int:
        """``M``: the side in pixels of every square the processor hands the vision tower."""
        size = self.settings()["max_image_size"]
        square = _entry(size, "longest_edge")
        if square is None:
            raise GeometryError(f"unsupported max_image_size {size!r}")
        return square

    def seen_fraction(self) -> float:
        """The share of each square's side that whole patches cover: ``p·patch / M``, under 1
        where ``patch_size`` does not divide ``M`` (SmolVLM: 378 / 384)."""
        square = self.square_side()
        patches = square // self.patch_size
        if patches != self.side * self.scale:
            raise GeometryError(
                f"{square}-px squares hold {patches} patches a side, but the connector shuffles "
                f"{self.side * self.scale} patches (scale {self.scale}) to {self.side} tokens"
            )
        return patches * self.patch_size / square

    def split(self, width: int, height: int) -> tuple[int, int]:
        """``(rows, cols)`` of squares for a ``width × height`` image; ``(0, 0)``: global only."""
        settings = self.settings()
        if not settings["do_image_splitting"]:
            return 0, 0
        square = self.square_side()
        if settings["do_resize"]:
            longest = _entry(settings["size"], "longest_edge")
            if longest is not None:
                width, height = resized_for_longest_edge(width, height, longest)
            else:
                fixed = (_entry(settings["size"], "width"), _entry(settings["size"], "height"))
                if None in fixed:
                    raise GeometryError(f"unsupported Idefics3 size {settings['size']!r}")
                width, height = fixed
        return split_grid(width, height, square)

    def layouts(
        self, inputs: Mapping[str, Any], row: int, original_size: tuple[int, int]
    ) -> list[ViewLayout]:
        width, height = original_size
        rows, cols = self.split(width, height)
        rectangles = tile_rectangles(width, height, rows, cols)
        names = [f"tile_{index}" for index in range(len(rectangles))]
        rectangles.append((0.0, 0.0, float(width), float(height)))
        names.append("global")
        seen = self.seen_fraction()
        grid = (self.side, self.side)
        ids = inputs["input_ids"][row]
        return rectangle_views(names, rectangles, ids, self.image_token_id, grid, (seen, seen))
