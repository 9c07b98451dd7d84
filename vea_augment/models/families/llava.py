"""LLaVA-1.5: a fixed square CLIP view (336 px for the released checkpoints).

The processor optionally pads the image to a square (the "pad" variant, centred on a
mean-colour background), resizes the shortest edge to ``size`` (the longer edge becomes
``int(size · long / short)``), and centre-crops to ``crop_size``. Each vision patch becomes one
image token. The token boxes are mapped back through crop, resize and pad: cropped-away
regions are covered by no token; tokens over the pad background get boxes outside the
original image, which painting clips away and labelling never counts as evidence (it cuts the
boxes to the image).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from vea_augment.errors import GeometryError
from vea_augment.models.adapter import FamilyAdapter, ViewLayout, grid_boxes, image_token_positions
from vea_augment.models.registry import register_adapter


def _size_entry(size: Any, key: str) -> int | None:
    value = size.get(key) if isinstance(size, Mapping) else getattr(size, key, None)
    return None if value is None else int(value)


def _resized_shape(width: int, height: int, size: Any) -> tuple[int, int]:
    """``(width, height)`` after the processor's resize step."""
    shortest = _size_entry(size, "shortest_edge")
    if shortest is not None and _size_entry(size, "longest_edge") is None:
        if width <= height:
            return shortest, int(shortest * height / width)
        return int(shortest * width / height), shortest
    fixed_height, fixed_width = _size_entry(size, "height"), _size_entry(size, "width")
    if fixed_height is None or fixed_width is None:
        raise GeometryError(f"unsupported LLaVA image processor size {size!r}")
    return fixed_width, fixed_height


def _crop_origin(image_extent: int, crop_extent: int) -> int:
    """Where the centre crop starts in the resized image (negative when it pads instead)."""
    if crop_extent > image_extent:
        return -((crop_extent - image_extent) // 2)
    return int((image_extent - crop_extent) / 2.0)


@register_adapter
class LlavaAdapter(FamilyAdapter):
    """One view: the patch grid of the (padded,) resized, centre-cropped square."""

    model_types = ("llava",)
    family = "LLaVA-1.5 (crop and pad variants)"
    tested_with = ("tiny llava (centre crop)", "tiny llava (pad to square)")

    def __init__(self, config: Any, processor: Any) -> None:
        super().__init__(config, processor)
        self.image_processor = processor.image_processor
        self.patch_size = int(config.vision_config.patch_size)
        self.image_token_id = int(config.image_token_id)
        strategy = getattr(config, "vision_feature_select_strategy", "default")
        extra = int(getattr(processor, "num_additional_image_tokens", 0) or 0)
        self.leading_tokens = extra - (1 if strategy == "default" else 0)

    def processed_geometry(self, width: int, height: int) -> dict[str, float]:
        """Pad offset, canvas, resized and crop geometry for an original ``width × height``."""
        pad_left = pad_top = 0
        canvas_width, canvas_height = width, height
        if getattr(self.image_processor, "do_pad", False):
            side = max(width, height)
            pad_left, pad_top = (side - width) // 2, (side - height) // 2
            canvas_width = canvas_height = side
        resized_width, resized_height = canvas_width, canvas_height
        if getattr(self.image_processor, "do_resize", True):
            resized_width, resized_height = _resized_shape(
                canvas_width, canvas_height, self.image_processor.size
            )
        crop_left = crop_top = 0
        final_width, final_height = resized_width, resized_height
        if getattr(self.image_processor, "do_center_crop", False):
            crop = self.image_processor.crop_size
            final_width, final_height = _size_entry(crop, "width"), _size_entry(crop, "height")
            crop_left = _crop_origin(resized_width, final_width)
            crop_top = _crop_origin(resized_height, final_height)
        return {
            "pad_left": pad_left,
            "pad_top": pad_top,
            "scale_x": canvas_width / resized_width,
            "scale_y": canvas_height / resized_height,
            "crop_left": crop_left,
            "crop_top": crop_top,
            "final_width": final_width,
            "final_height": final_height,
        }

    def layouts(
        self, inputs: Mapping[str, Any], row: int, original_size: tuple[int, int]
    ) -> list[ViewLayout]:
        geometry = self.processed_geometry(*original_size)
        rows = int(geometry["final_height"]) // self.patch_size
        cols = int(geometry["final_width"]) // self.patch_size
        positions = image_token_positions(
            inputs["input_ids"][row],
            self.image_token_id,
            expected=rows * cols + self.leading_tokens,
        )[self.leading_tokens :]
        boxes = grid_boxes(
            rows,
            cols,
            cell_width=self.patch_size * geometry["scale_x"],
            cell_height=self.patch_size * geometry["scale_y"],
            offset_x=geometry["crop_left"] * geometry["scale_x"] - geometry["pad_left"],
            offset_y=geometry["crop_top"] * geometry["scale_y"] - geometry["pad_top"],
        )
        return [ViewLayout("image", np.asarray(positions).reshape(rows, cols), boxes)]
