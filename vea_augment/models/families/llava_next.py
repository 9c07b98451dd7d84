"""LLaVA-NeXT (LLaVA-1.6): "anyres" tiles on a best-fit grid, plus the resized base image.

The processor picks the grid resolution that best fits the image (``select_best_resolution``
over ``image_grid_pinpoints``), resizes the image into it keeping the aspect ratio
(``get_patch_output_size``), pads it centred to that resolution and cuts it into ``tile × tile``
tiles; separately it squashes the whole image to one ``tile × tile`` base image. The model
puts the base image's ``p × p`` patch tokens first (``p = tile / patch_size``), then lays the
tiles' patch features out as one grid over the padded canvas, drops the rows (or columns) of
padding (``unpad_image``, computed from the original size in feature units) and appends a
learned ``image_newline`` token after every row.

Views: ``base`` (the ``p × p`` grid over the whole image) and ``tiles`` (the unpadded feature
grid; each feature covers one ``patch_size`` square of the canvas, mapped back through the pad
offset and the resize to original pixels, so features on a leftover pad sliver get boxes
partly outside the image, which painting and labelling cut away). The newline tokens cover no
pixels and belong to no view. Where both views cover a pixel, painting averages them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from vea_augment.errors import GeometryError
from vea_augment.models.adapter import FamilyAdapter, ViewLayout, grid_boxes, image_token_positions
from vea_augment.models.families.llava import _size_entry
from vea_augment.models.registry import register_adapter


def select_best_resolution(
    height: int, width: int, pinpoints: list[tuple[int, int]]
) -> tuple[int, int]:
    """The ``(height, width)`` pinpoint LLaVA-NeXT resizes an image to (transformers' rule).

    The one keeping the most of the image's pixels after an aspect-preserving downscale,
    ties broken by the least wasted area; the first such pinpoint wins.
    """
    best, best_effective, best_wasted = None, 0, math.inf
    for pin_height, pin_width in pinpoints:
        scale = min(pin_width / width, pin_height / height)
        effective = min(int(width * scale) * int(height * scale), width * height)
        wasted = pin_width * pin_height - effective
        if effective > best_effective or (effective == best_effective and wasted < best_wasted):
            best, best_effective, best_wasted = (pin_height, pin_width), effective, wasted
    if best is None:
        raise GeometryError(f"no grid pinpoint fits a {width}x{height} image: {pinpoints}")
    return best


def _fitted_size(height: int, width: int, target: tuple[int, int]) -> tuple[int, int]:
    """``(height, width)`` of the image resized into ``target`` keeping its aspect ratio."""
    target_height, target_width = target
    scale_w, scale_h = target_width / width, target_height / height
    if scale_w < scale_h:
        return min(math.ceil(height * scale_w), target_height), target_width
    return target_height, min(math.ceil(width * scale_h), target_width)


@register_adapter
class LlavaNextAdapter(FamilyAdapter):
    """Two views: ``base`` (whole image, squashed) and ``tiles`` (the unpadded tile grid)."""

    model_types = ("llava_next",)
    family = "LLaVA-NeXT (anyres tiles + base image)"
    tested_with = ("tiny llava_next",)
    text_config_key = "text_config"

    def __init__(self, config: Any, processor: Any) -> None:
        super().__init__(config, processor)
        image_processor = processor.image_processor
        self.tile = int(config.vision_config.image_size)
        self.patch_size = int(config.vision_config.patch_size)
        self.side = self.tile // self.patch_size
        self.image_token_id = int(config.image_token_id)
        self.pinpoints = [(int(h), int(w)) for h, w in config.image_grid_pinpoints]
        processor_pinpoints = [(int(h), int(w)) for h, w in image_processor.image_grid_pinpoints]
        if processor_pinpoints != self.pinpoints:
            raise GeometryError(
                f"the processor's image_grid_pinpoints {processor_pinpoints} differ from the "
                f"model's {self.pinpoints}"
            )
        size = image_processor.size
        side = _size_entry(size, "shortest_edge")
        if side is None and _size_entry(size, "height") == _size_entry(size, "width"):
            side = _size_entry(size, "height")
        crop = (
            image_processor.crop_size if getattr(image_processor, "do_center_crop", True) else None
        )
        crops_to = (
            None if crop is None else (_size_entry(crop, "height"), _size_entry(crop, "width"))
        )
        if side != self.tile or crops_to not in (None, (self.tile, self.tile)):
            raise GeometryError(
                f"unsupported LLaVA-NeXT processor geometry: size {size!r}, crop {crop!r}; the "
                f"base image and the tiles must come out {self.tile}x{self.tile} uncropped"
            )
        strategy = getattr(config, "vision_feature_select_strategy", "default")
        extra = int(getattr(processor, "num_additional_image_tokens", 0) or 0)
        self.leading_tokens = extra - (1 if strategy == "default" else 0)

    def tile_grid(self, width: int, height: int) -> tuple[int, int]:
        """``(rows, cols)`` of tiles the processor cuts a ``width × height`` image into."""
        best_height, best_width = select_best_resolution(height, width, self.pinpoints)
        return best_height // self.tile, best_width // self.tile

    def tile_geometry(self, width: int, height: int) -> dict[str, Any]:
        """Unpadded feature grid shape, its offset in the padded feature grid, and the canvas
        placement (pad offset and resized size, pixels) of a ``width × height`` image."""
        best_height, best_width = select_best_resolution(height, width, self.pinpoints)
        fitted_height, fitted_width = _fitted_size(height, width, (best_height, best_width))
        rows = best_height // self.tile * self.side
        cols = best_width // self.tile * self.side
        # unpad_image, in feature units, exactly as the model computes it.
        row_offset = col_offset = 0
        if width / height > cols / rows:
            kept = int(round(height * (cols / width), 7))
            row_offset = (rows - kept) // 2
            rows -= 2 * row_offset
        else:
            kept = int(round(width * (rows / height), 7))
            col_offset = (cols - kept) // 2
            cols -= 2 * col_offset
        return {
            "rows": rows,
            "cols": cols,
            "row_offset": row_offset,
            "col_offset": col_offset,
            "pad_left": (best_width - fitted_width) // 2,
            "pad_top": (best_height - fitted_height) // 2,
            "fitted_width": fitted_width,
            "fitted_height": fitted_height,
        }

    def layouts(
        self, inputs: Mapping[str, Any], row: int, original_size: tuple[int, int]
    ) -> list[ViewLayout]:
        width, height = original_size
        tiles = self.tile_geometry(width, height)
        rows, cols = tiles["rows"], tiles["cols"]
        base_count = self.side * self.side
        positions = image_token_positions(
            inputs["input_ids"][row],
            self.image_token_id,
            expected=self.leading_tokens + base_count + rows * (cols + 1),
        )[self.leading_tokens :]
        base = ViewLayout(
            "base",
            positions[:base_count].reshape(self.side, self.side),
            grid_boxes(
                self.side, self.side, cell_width=width / self.side, cell_height=height / self.side
            ),
        )
        # Each row of tile features ends with an image_newline token, which covers no pixels.
        tile_positions = positions[base_count:].reshape(rows, cols + 1)[:, :cols]
        scale_x = width / tiles["fitted_width"]
        scale_y = height / tiles["fitted_height"]
        boxes = grid_boxes(
            rows,
            cols,
            cell_width=self.patch_size * scale_x,
            cell_height=self.patch_size * scale_y,
            offset_x=(tiles["col_offset"] * self.patch_size - tiles["pad_left"]) * scale_x,
            offset_y=(tiles["row_offset"] * self.patch_size - tiles["pad_top"]) * scale_y,
        )
        return [base, ViewLayout("tiles", np.ascontiguousarray(tile_positions), boxes)]
