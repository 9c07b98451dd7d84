"""Gemma-3: a fixed square SigLIP view pooled to ``mm_tokens_per_image`` tokens, plus optional
pan-and-scan crops.

The processor resizes the whole image to the vision tower's square ``image_size`` (the aspect
ratio is not kept) and the projector average-pools the patch grid to a ``side × side`` grid,
``side = sqrt(mm_tokens_per_image)``; each pooled token covers ``1/side`` of the original
width and height. With pan-and-scan (``do_pan_and_scan``) the processor also cuts the ORIGINAL
image into 2..``pan_and_scan_max_num_crops`` equal crops along its long side, resizes each to
the same square, and places them after the full image ("Here is the original image ... and here
are some crops ..."), each a block of ``mm_tokens_per_image`` image tokens. Every block is one
view: ``image`` (the whole image) and ``crop_0``, ``crop_1``, ... (each mapped to its crop
rectangle). Where the full view and a crop cover the same pixels, painting averages them.

The processor drops its ``num_crops`` output, so the crops are recomputed here from the
original size with the processor's pan-and-scan parameters, and checked against the number of
image tokens in the prompt.

Pan-and-scan is off in the released checkpoints, and ``Gemma3Processor.images_kwargs`` (which
passes ``do_pan_and_scan=False`` to every image-processor call) overrides the image processor's
own ``do_pan_and_scan``; :func:`configure_pan_and_scan` switches it on for a loaded processor.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from vea_augment.errors import GeometryError
from vea_augment.models.adapter import (
    FamilyAdapter,
    ViewLayout,
    effective_image_settings,
    rectangle_views,
)
from vea_augment.models.registry import register_adapter

#: The processor's own pan-and-scan defaults (``Gemma3Processor.images_kwargs``).
_PAN_AND_SCAN_DEFAULTS = {
    "do_pan_and_scan": False,
    "pan_and_scan_min_crop_size": 256,
    "pan_and_scan_max_num_crops": 4,
    "pan_and_scan_min_ratio_to_activate": 1.2,
}


def configure_pan_and_scan(processor: Any, enabled: bool = True, **settings: Any) -> None:
    """Switch pan-and-scan on (or off) for every call of a loaded ``Gemma3Processor``.

    ``settings`` may set ``pan_and_scan_min_crop_size``, ``pan_and_scan_max_num_crops`` and
    ``pan_and_scan_min_ratio_to_activate``. They go into the processor's ``images_kwargs``,
    the defaults it passes to its image processor, so the adapter reads the same values.
    """
    unknown = set(settings) - set(_PAN_AND_SCAN_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown pan-and-scan settings {sorted(unknown)}")
    processor.images_kwargs = {
        **(getattr(processor, "images_kwargs", None) or {}),
        **settings,
        "do_pan_and_scan": enabled,
    }


def pan_and_scan_crops(
    width: int,
    height: int,
    min_crop_size: int,
    max_num_crops: int,
    min_ratio_to_activate: float,
) -> list[tuple[int, int, int, int]]:
    """The ``[x0, y0, x1, y1]`` crop rectangles Gemma-3's pan-and-scan cuts, in raster order.

    Mirrors ``Gemma3ImageProcessor.pan_and_scan_batched``: crops along the long side only,
    their number close to the aspect ratio and within ``[2, max_num_crops]``, each
    ``ceil(side / n)`` long (the last one shorter when that overruns the image); none when the
    image is not elongated enough or a crop would be under ``min_crop_size``.
    """
    if width >= height:
        if width / height < min_ratio_to_activate:
            return []
        crops_w = min(math.floor(width / height + 0.5), math.floor(width / min_crop_size))
        crops_w, crops_h = min(max_num_crops, max(2, crops_w)), 1
    else:
        if height / width < min_ratio_to_activate:
            return []
        crops_h = min(math.floor(height / width + 0.5), math.floor(height / min_crop_size))
        crops_w, crops_h = 1, min(max_num_crops, max(2, crops_h))
    crop_w, crop_h = math.ceil(width / crops_w), math.ceil(height / crops_h)
    if min(crop_w, crop_h) < min_crop_size:
        return []
    return [
        (x, y, min(x + crop_w, width), min(y + crop_h, height))
        for y, x in itertools.product(
            [crop_h * i for i in range(crops_h)], [crop_w * i for i in range(crops_w)]
        )
    ]


@register_adapter
class Gemma3Adapter(FamilyAdapter):
    """The full image's pooled grid, then each pan-and-scan crop's, in prompt order."""

    model_types = ("gemma3",)
    family = "Gemma-3 (with pan-and-scan crops)"
    tested_with = ("tiny gemma3", "tiny gemma3 (pan-and-scan)")
    text_config_key = "text_config"

    def __init__(self, config: Any, processor: Any) -> None:
        super().__init__(config, processor)
        self.tokens_per_image = int(config.mm_tokens_per_image)
        self.side = math.isqrt(self.tokens_per_image)
        if self.side * self.side != self.tokens_per_image:
            raise GeometryError(
                f"mm_tokens_per_image={self.tokens_per_image} is not a square grid of tokens"
            )
        self.image_token_id = int(config.image_token_id)

    def pan_and_scan_settings(self) -> dict[str, Any]:
        """The processor's effective pan-and-scan settings (without call-time overrides).

        ``Gemma3Processor.images_kwargs`` is passed to every image-processor call, so it wins
        over the image processor's own attributes; those count only where it is silent.
        """
        return effective_image_settings(self.processor, _PAN_AND_SCAN_DEFAULTS)

    def crops(self, width: int, height: int) -> list[tuple[int, int, int, int]]:
        """The pan-and-scan crop rectangles of a ``width × height`` image (pixel xyxy)."""
        settings = self.pan_and_scan_settings()
        return pan_and_scan_crops(
            width,
            height,
            int(settings["pan_and_scan_min_crop_size"]),
            int(settings["pan_and_scan_max_num_crops"]),
            float(settings["pan_and_scan_min_ratio_to_activate"]),
        )

    def layouts(
        self, inputs: Mapping[str, Any], row: int, original_size: tuple[int, int]
    ) -> list[ViewLayout]:
        width, height = original_size
        ids = inputs["input_ids"][row]
        ids = np.asarray(ids.cpu() if hasattr(ids, "cpu") else ids)
        found = int((ids == self.image_token_id).sum())
        # Pan-and-scan may also be switched on per call (``do_pan_and_scan=True``), which the
        # adapter cannot see: more than one block of image tokens says it was.
        with_crops = (
            found > self.tokens_per_image or self.pan_and_scan_settings()["do_pan_and_scan"]
        )
        crops = self.crops(width, height) if with_crops else []
        rectangles = [(0, 0, width, height), *crops]
        names = ["image", *(f"crop_{index}" for index in range(len(crops)))]
        grid = (self.side, self.side)
        return rectangle_views(names, rectangles, ids, self.image_token_id, grid)
