"""InternVL (transformers-native ``InternVLForConditionalGeneration``: InternVL3, InternVL3.5).

The image processor (``GotOcr2ImageProcessor`` with ``crop_to_patches``) picks a grid of
``cols × rows`` tiles whose aspect ratio is closest to the image's (at most ``max_patches``
tiles; ``get_optimal_tiled_canvas``), squashes the whole image to ``cols·tile × rows·tile``
pixels and cuts it into tiles in raster order; with more than one tile it appends a thumbnail,
the whole image squashed to one tile. Each tile's ``p × p`` patch features are pixel-shuffled
(``downsample_ratio`` 0.5) to ``p/2 × p/2`` tokens in raster order, each covering a 2 × 2 patch
block. The prompt holds ``<img>``, then every tile's tokens in order, then ``</img>``.

Views: ``tile_0``, ``tile_1``, ... (each mapped to its rectangle of the original image: the
grid squashes the image, so tile (r, c) covers exactly ``[c·W/cols, (c+1)·W/cols) ×
[r·H/rows, (r+1)·H/rows)``) and ``thumbnail`` (the whole image); a one-tile grid is a single
view ``image``. Where tiles and the thumbnail cover the same pixels, painting averages them.

The processor drops its ``num_patches`` output, so the grid is recomputed here from the
original size with the processor's settings and checked against the number of image tokens.
"""

from __future__ import annotations

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

#: The processor's own tiling defaults (``InternVLProcessor.images_kwargs`` and
#: ``GotOcr2ImageProcessor``'s class attributes).
_TILING_DEFAULTS = {"crop_to_patches": False, "min_patches": 1, "max_patches": 12}


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, int | float):
        return int(value), int(value)
    first, second = value
    return int(first), int(second)


def optimal_tile_grid(
    width: int, height: int, tile_width: int, tile_height: int, min_tiles: int, max_tiles: int
) -> tuple[int, int]:
    """``(cols, rows)`` of the tile grid InternVL's processor picks (``get_optimal_tiled_canvas``).

    The grid whose aspect ratio is closest to the image's, among those of ``min_tiles`` to
    ``max_tiles`` tiles (ordered by tile count); on a tie the later (larger) grid wins while the
    image's area exceeds half the grid's pixel area.
    """
    arrangements = sorted(
        (
            (cols, rows)
            for cols in range(1, max_tiles + 1)
            for rows in range(1, max_tiles + 1)
            if min_tiles <= cols * rows <= max_tiles
        ),
        key=lambda grid: grid[0] * grid[1],
    )
    aspect, area = width / height, width * height
    best, best_diff = (1, 1), float("inf")
    for cols, rows in arrangements:
        diff = abs(aspect - cols / rows)
        if diff < best_diff:
            best, best_diff = (cols, rows), diff
        elif diff == best_diff and area > 0.5 * tile_height * tile_width * cols * rows:
            best = (cols, rows)
    return best


@register_adapter
class InternVLAdapter(FamilyAdapter):
    """The tiles in raster order, then the thumbnail (or one view for a one-tile grid)."""

    model_types = ("internvl",)
    family = "InternVL (transformers-native InternVL3 / InternVL3.5)"
    tested_with = ("tiny internvl",)
    text_config_key = "text_config"

    def __init__(self, config: Any, processor: Any) -> None:
        super().__init__(config, processor)
        image_size = _pair(config.vision_config.image_size)
        patch_size = _pair(config.vision_config.patch_size)
        ratio = float(config.downsample_ratio)
        self.token_rows = int(image_size[0] // patch_size[0] * ratio)
        self.token_cols = int(image_size[1] // patch_size[1] * ratio)
        self.tokens_per_tile = self.token_rows * self.token_cols
        expected = int(getattr(processor, "image_seq_length", self.tokens_per_tile))
        if expected != self.tokens_per_tile:
            raise GeometryError(
                f"the processor puts {expected} tokens per tile but the model's vision tower makes "
                f"{self.token_rows}x{self.token_cols} = {self.tokens_per_tile}"
            )
        size = processor.image_processor.size
        get = size.get if isinstance(size, Mapping) else lambda key: getattr(size, key, None)
        self.tile_height, self.tile_width = int(get("height")), int(get("width"))
        self.image_token_id = int(config.image_token_id)

    def tiling_settings(self) -> dict[str, Any]:
        """The processor's effective tiling settings (without call-time overrides).

        ``InternVLProcessor.images_kwargs`` (``crop_to_patches=True``) is passed to every
        image-processor call and wins over the image processor's own attributes.
        """
        return effective_image_settings(self.processor, _TILING_DEFAULTS)

    def tile_grid(self, width: int, height: int) -> tuple[int, int]:
        """``(cols, rows)`` of tiles for a ``width × height`` image; ``(1, 1)``: no tiling."""
        settings = self.tiling_settings()
        if not settings["crop_to_patches"] or int(settings["max_patches"]) <= 1:
            return 1, 1
        return optimal_tile_grid(
            width,
            height,
            self.tile_width,
            self.tile_height,
            int(settings["min_patches"]),
            int(settings["max_patches"]),
        )

    def layouts(
        self, inputs: Mapping[str, Any], row: int, original_size: tuple[int, int]
    ) -> list[ViewLayout]:
        width, height = original_size
        cols, rows = self.tile_grid(width, height)
        rectangles = tile_rectangles(width, height, rows, cols)
        names = [f"tile_{index}" for index in range(len(rectangles))]
        if len(rectangles) > 1:
            rectangles.append((0.0, 0.0, float(width), float(height)))
            names.append("thumbnail")
        else:
            names = ["image"]
        grid = (self.token_rows, self.token_cols)
        return rectangle_views(
            names, rectangles, inputs["input_ids"][row], self.image_token_id, grid
        )
