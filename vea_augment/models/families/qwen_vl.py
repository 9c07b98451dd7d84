"""Qwen2-VL, Qwen2.5-VL and Qwen3-VL: dynamic resolution with a 2×2 token merge.

The processor resizes the image (``smart_resize``) to multiples of ``patch_size × merge_size``
pixels, which changes the aspect ratio slightly; ``image_grid_thw`` records the resized grid
in patches. Each merged token covers a ``patch·merge`` square of the RESIZED image; scaling x
and y separately by original/resized maps it back to the original pixels exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from vea_augment.errors import GeometryError
from vea_augment.models.adapter import FamilyAdapter, ViewLayout, grid_boxes, image_token_positions
from vea_augment.models.registry import register_adapter


@register_adapter
class QwenVLAdapter(FamilyAdapter):
    """One view: the resized image's merged-token grid, in raster order."""

    model_types = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")
    family = "Qwen-VL (Qwen2-VL, Qwen2.5-VL, Qwen3-VL)"
    tested_with = ("tiny qwen2_vl", "tiny qwen2_5_vl", "tiny qwen3_vl")

    def __init__(self, config: Any, processor: Any) -> None:
        super().__init__(config, processor)
        image_processor = processor.image_processor
        self.patch_size = int(image_processor.patch_size)
        self.merge_size = int(image_processor.merge_size)
        self.image_token_id = int(config.image_token_id)

    def layouts(
        self, inputs: Mapping[str, Any], row: int, original_size: tuple[int, int]
    ) -> list[ViewLayout]:
        grid_thw = np.asarray(inputs["image_grid_thw"])
        if row >= len(grid_thw):
            raise GeometryError(f"batch row {row} has no image_grid_thw entry (one image per row)")
        frames, patch_rows, patch_cols = (int(v) for v in grid_thw[row])
        rows, cols = patch_rows // self.merge_size, patch_cols // self.merge_size
        positions = image_token_positions(
            inputs["input_ids"][row], self.image_token_id, expected=frames * rows * cols
        )
        if frames != 1:
            raise GeometryError(f"an image with {frames} temporal patches is not a still image")
        resized_width = patch_cols * self.patch_size
        resized_height = patch_rows * self.patch_size
        token_pixels = self.patch_size * self.merge_size
        boxes = grid_boxes(
            rows,
            cols,
            cell_width=token_pixels * original_size[0] / resized_width,
            cell_height=token_pixels * original_size[1] / resized_height,
        )
        return [ViewLayout("image", positions.reshape(rows, cols), boxes)]
