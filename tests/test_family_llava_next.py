"""LLaVA-NeXT: anyres tiles, unpadding, and the row newline tokens that cover no pixels.

The shared tests (``test_attribution.py``) check exactness against eager, batching, geometry
and the round trip; these check the anyres layout itself: the best-fit grid, the unpadded
feature grid's extent in the original image, and that every ``image_newline`` token sits at
the end of a tile row and in no view.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from family_checks import tiny_attributor, white_block_image
from synthetic_images import noise_image
from test_attribution import (
    assert_a_missing_image_token_is_a_geometry_error,
    assert_batch_equals_eager_and_single_samples,
    covered_share,
    image_token_embeddings,
)
from transformers.image_processing_utils import select_best_resolution as hf_best_resolution

from vea_augment.attribution.attributor import Attributor
from vea_augment.errors import GeometryError
from vea_augment.models.families.llava_next import LlavaNextAdapter, select_best_resolution

SIZES = [(150, 100), (300, 100), (100, 300), (96, 72), (60, 110), (13, 200), (401, 37), (84, 84)]


@pytest.fixture(scope="module")
def attributor(tmp_path_factory: pytest.TempPathFactory) -> Attributor:
    return tiny_attributor("llava_next", tmp_path_factory)


def test_best_resolution_is_transformers_choice(attributor):
    pinpoints = attributor.adapter.pinpoints
    for width, height in [*SIZES, (1000, 10), (10, 1000), (500, 400)]:
        expected = tuple(hf_best_resolution((height, width), [list(p) for p in pinpoints]))
        assert select_best_resolution(height, width, pinpoints) == expected


@pytest.mark.parametrize("size", SIZES)
def test_newline_tokens_end_every_tile_row_and_are_in_no_view(attributor, size):
    image = noise_image(*size, seed=1)
    embeds, layouts = image_token_embeddings(attributor, image)
    inputs = attributor.encode([image], attributor.prompts(["What?"]))
    base, tiles = layouts
    assert (base.name, tiles.name) == ("base", "tiles")
    image_positions = np.flatnonzero(
        inputs["input_ids"][0].numpy() == attributor.adapter.image_token_id
    )
    in_views = np.concatenate([base.positions.reshape(-1), tiles.positions.reshape(-1)])
    newlines = np.setdiff1d(image_positions, in_views)
    assert len(in_views) + len(newlines) == len(image_positions)
    assert len(np.unique(in_views)) == len(in_views)
    rows = tiles.grid_shape[0]
    np.testing.assert_array_equal(newlines, tiles.positions[:, -1] + 1)
    assert len(newlines) == rows
    newline = attributor.model.model.image_newline.detach().double().numpy()
    np.testing.assert_allclose(embeds[newlines], np.broadcast_to(newline, (rows, len(newline))))
    # Base tokens come first, then the tile rows (each followed by its newline).
    assert base.positions.max() < tiles.positions.min()


@pytest.mark.parametrize("size", SIZES)
def test_the_unpadded_tile_grid_spans_the_image_to_within_one_feature(attributor, size):
    width, height = size
    image = noise_image(width, height, seed=2)
    inputs = attributor.encode([image], attributor.prompts(["q"]))
    base, tiles = attributor.adapter.layouts(inputs, 0, image.size)
    assert base.grid_shape == (6, 6)
    np.testing.assert_allclose(base.boxes[-1, -1, 2:], [width, height])
    cell_w = tiles.boxes[0, 0, 2] - tiles.boxes[0, 0, 0]
    cell_h = tiles.boxes[0, 0, 3] - tiles.boxes[0, 0, 1]
    assert (
        abs(tiles.boxes[..., 0].min()) < cell_w and abs(tiles.boxes[..., 2].max() - width) < cell_w
    )
    assert abs(tiles.boxes[..., 1].min()) < cell_h
    assert abs(tiles.boxes[..., 3].max() - height) < cell_h
    grid_rows, grid_cols = attributor.adapter.tile_grid(width, height)
    assert tiles.grid_shape[0] <= grid_rows * 6 and tiles.grid_shape[1] <= grid_cols * 6
    assert len(inputs["pixel_values"][0]) >= 1 + grid_rows * grid_cols


@pytest.mark.parametrize("size", [(150, 100), (100, 150), (300, 100), (60, 110)])
def test_tile_features_sit_where_the_processor_put_their_pixels(attributor, size):
    """Reassemble the processor's tiles into its padded canvas: the share of white in each
    kept feature's 7 × 7 patch there is the share of its box that the white block covers."""
    width, height = size
    image, block = white_block_image(size)
    inputs = attributor.encode([image], attributor.prompts(["q"]))
    _, tiles = attributor.adapter.layouts(inputs, 0, image.size)
    grid_rows, grid_cols = attributor.adapter.tile_grid(width, height)
    tile_pixels = inputs["pixel_values"][0][1 : 1 + grid_rows * grid_cols, 0]
    canvas = (
        tile_pixels.reshape(grid_rows, grid_cols, 42, 42)
        .permute(0, 2, 1, 3)
        .reshape(grid_rows * 42, grid_cols * 42)
    )
    black, white = canvas.min(), canvas.max()
    patches = canvas.reshape(canvas.shape[0] // 7, 7, canvas.shape[1] // 7, 7).mean(dim=(1, 3))
    geometry = attributor.adapter.tile_geometry(width, height)
    kept = patches[
        geometry["row_offset"] : geometry["row_offset"] + geometry["rows"],
        geometry["col_offset"] : geometry["col_offset"] + geometry["cols"],
    ]
    white_share = ((kept - black) / (white - black)).double().numpy()
    covered = covered_share(tiles.boxes, block)
    assert white_share.shape == covered.shape
    # Bicubic resampling blurs the block's edges by about a pixel of the canvas.
    np.testing.assert_allclose(white_share, covered, atol=0.25)
    assert (covered == 1).any() and (covered == 0).any()


def test_a_batch_of_different_tile_grids_equals_eager_and_single_samples(attributor):
    images = [noise_image(300, 100, 3), noise_image(150, 100, 4)]
    questions = ["What is written on the sign?", "Which colour?"]
    batch = attributor.encode(images, attributor.prompts(questions))
    assert attributor.adapter.tile_grid(300, 100) != attributor.adapter.tile_grid(150, 100)
    assert_batch_equals_eager_and_single_samples(attributor, batch, images, questions, [1, 3])


def test_a_missing_image_token_is_a_geometry_error(attributor):
    assert_a_missing_image_token_is_a_geometry_error(attributor)


def test_pinpoints_that_differ_from_the_model_are_refused(attributor, monkeypatch):
    processor = attributor.processor
    with monkeypatch.context() as patched:
        patched.setattr(processor.image_processor, "image_grid_pinpoints", [[84, 84]])
        with pytest.raises(GeometryError, match="pinpoints"):
            LlavaNextAdapter(attributor.model.config, processor)
    assert torch.is_tensor(attributor.model.model.image_newline)
