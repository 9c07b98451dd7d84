"""InternVL: tiles chosen by aspect ratio, pixel-shuffled tokens, and the thumbnail.

The shared tests (``test_attribution.py``) check exactness against eager, batching, geometry
and the round trip; these check the tiling itself against the processor: the grid choice, the
pixels each tile token was cut from, and which views a local change reaches.
"""

from __future__ import annotations

import numpy as np
import pytest
from family_checks import (
    assert_a_batch_of_two_equals_eager_and_single_samples,
    assert_tokens_hold_the_white_share_of_their_boxes,
    change_by_view_after_a_local_edit,
    one_view_of_a_wide_image,
    tiny_attributor,
    white_block_image,
)
from synthetic_images import noise_image
from test_attribution import assert_a_missing_image_token_is_a_geometry_error
from transformers.models.got_ocr2.image_processing_got_ocr2 import get_optimal_tiled_canvas

from vea_augment.attribution.attributor import Attributor
from vea_augment.errors import GeometryError
from vea_augment.models.families.internvl import InternVLAdapter, optimal_tile_grid
from vea_augment.testing.tiny import INTERNVL_MAX_TILES

SIZES = [(150, 100), (300, 100), (100, 300), (96, 72), (60, 110), (20, 20), (401, 37), (64, 64)]


@pytest.fixture(scope="module")
def attributor(tmp_path_factory: pytest.TempPathFactory) -> Attributor:
    return tiny_attributor("internvl", tmp_path_factory)


def test_the_tile_grid_is_transformers_choice():
    for width in (10, 33, 64, 100, 150, 300, 448, 900, 1500):
        for height in (10, 40, 64, 100, 333, 448, 1200):
            for min_tiles, max_tiles in ((1, 6), (1, 12), (2, 9)):
                expected = get_optimal_tiled_canvas((height, width), (32, 32), min_tiles, max_tiles)
                got = optimal_tile_grid(width, height, 32, 32, min_tiles, max_tiles)
                assert got == tuple(expected), (width, height, min_tiles, max_tiles)


@pytest.mark.parametrize("size", SIZES)
def test_one_view_per_processed_tile_in_prompt_order(attributor, size):
    image = noise_image(*size, seed=1)
    processed = attributor.processor.image_processor(
        [image], crop_to_patches=True, return_tensors="pt"
    )
    inputs = attributor.encode([image], attributor.prompts(["q"]))
    layouts = attributor.adapter.layouts(inputs, 0, image.size)
    assert len(layouts) == int(processed["num_patches"][0]) == len(inputs["pixel_values"])
    names = [layout.name for layout in layouts]
    if len(layouts) == 1:
        assert names == ["image"]
    else:
        assert names == [*(f"tile_{i}" for i in range(len(layouts) - 1)), "thumbnail"]
        assert len(layouts) - 1 <= INTERNVL_MAX_TILES
    positions = np.concatenate([layout.positions.reshape(-1) for layout in layouts])
    assert np.all(np.diff(positions) == 1), "the tiles' tokens run unbroken from <img> to </img>"
    for layout in layouts:
        assert layout.grid_shape == (4, 4)
    cols, rows = attributor.adapter.tile_grid(*size)
    tiles = layouts[:-1] if len(layouts) > 1 else layouts
    union = np.stack([layout.boxes for layout in tiles])
    np.testing.assert_allclose(union[..., 0].min(), 0)
    np.testing.assert_allclose(union[..., 2].max(), size[0])
    np.testing.assert_allclose(union[..., 3].max(), size[1])
    assert len(tiles) == cols * rows


@pytest.mark.parametrize("size", [(150, 100), (300, 100), (100, 300), (60, 110)])
def test_each_token_holds_the_pixels_of_its_box(attributor, size):
    """In every processed tile (and the thumbnail), the share of white in a token's 8 × 8 pixel
    block is the share of the token's box that the white block covers in the original."""
    image, block = white_block_image(size)
    inputs = attributor.encode([image], attributor.prompts(["q"]))
    layouts = attributor.adapter.layouts(inputs, 0, image.size)
    # Bicubic resampling blurs the block's edges by about a pixel.
    tiles = inputs["pixel_values"][:, 0]
    assert_tokens_hold_the_white_share_of_their_boxes(layouts, tiles, block)


def test_a_change_inside_one_tile_reaches_only_that_tile_and_the_thumbnail(attributor):
    assert attributor.adapter.tile_grid(300, 100) == (3, 1)
    change = change_by_view_after_a_local_edit(attributor)  # well inside the middle tile
    assert change["tile_0"] == 0 and change["tile_2"] == 0
    assert change["tile_1"] > 0 and change["thumbnail"] > 0


def test_without_tiling_the_image_is_one_view(attributor, monkeypatch):
    processor = attributor.processor
    monkeypatch.setattr(
        processor, "images_kwargs", {**processor.images_kwargs, "crop_to_patches": False}
    )
    layout, inputs = one_view_of_a_wide_image(attributor)
    assert layout.name == "image" and len(inputs["pixel_values"]) == 1
    np.testing.assert_allclose(layout.boxes[-1, -1], [225, 75, 300, 100])


def test_a_batch_of_different_tile_counts_equals_eager_and_single_samples(attributor):
    images = [noise_image(300, 100, 3), noise_image(20, 20, 4)]
    assert_a_batch_of_two_equals_eager_and_single_samples(attributor, images, [4, 1])


def test_a_missing_image_token_is_a_geometry_error(attributor):
    assert_a_missing_image_token_is_a_geometry_error(attributor)


def test_a_processor_with_another_token_count_per_tile_is_refused(attributor, monkeypatch):
    processor = attributor.processor
    monkeypatch.setattr(processor, "image_seq_length", processor.image_seq_length * 4)
    with pytest.raises(GeometryError, match="tokens per tile"):
        InternVLAdapter(attributor.model.config, processor)
