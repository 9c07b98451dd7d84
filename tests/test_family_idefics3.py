"""Idefics3 and SmolVLM: image splitting into squares plus the global image.

The shared tests (``test_attribution.py``) check exactness against eager, batching, geometry
and the round trip; these check the split itself against the processor: the grid, the marker
tokens around each square (in no view), the pixels each token was cut from, and which views a
local change reaches.
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

from vea_augment.attribution.attributor import Attributor
from vea_augment.errors import GeometryError
from vea_augment.models.families.idefics3 import Idefics3Adapter

FAMILIES = ["idefics3", "smolvlm"]
SIZES = [(150, 100), (300, 100), (100, 300), (96, 72), (60, 110), (20, 20), (401, 37), (32, 96)]


@pytest.fixture(scope="module", params=FAMILIES)
def attributor(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Attributor:
    return tiny_attributor(request.param, tmp_path_factory)


@pytest.mark.parametrize(
    "size", [*SIZES, (5000, 90), (90, 5000), (97, 33), (33, 97), (1, 1), (64, 64), (65, 64)]
)
def test_the_split_is_the_image_processors(attributor, size):
    image = noise_image(*size, seed=0)
    processed = attributor.processor.image_processor([[image]], return_row_col_info=True)
    expected = (processed["rows"][0][0], processed["cols"][0][0])
    assert attributor.adapter.split(*size) == expected
    assert len(processed["pixel_values"][0]) == expected[0] * expected[1] + 1


@pytest.mark.parametrize("size", SIZES)
def test_each_view_follows_its_marker_and_markers_are_in_no_view(attributor, size):
    image = noise_image(*size, seed=1)
    inputs = attributor.encode([image], attributor.prompts(["q"]))
    layouts = attributor.adapter.layouts(inputs, 0, image.size)
    rows, cols = attributor.adapter.split(*size)
    assert len(layouts) == rows * cols + 1 == inputs["pixel_values"].shape[1]
    ids = inputs["input_ids"][0].tolist()
    tokens = attributor.processor.tokenizer.convert_ids_to_tokens(ids)
    markers = [f"<row_{r + 1}_col_{c + 1}>" for r in range(rows) for c in range(cols)]
    for layout, marker in zip(layouts, [*markers, "<global-img>"], strict=True):
        first = int(layout.positions.min())
        assert tokens[first - 1] == marker, layout.name
        run = layout.positions.reshape(-1)
        np.testing.assert_array_equal(run, np.arange(first, first + len(run)))
        assert layout.grid_shape == (4, 4)
    in_views = {int(p) for layout in layouts for p in layout.positions.reshape(-1)}
    assert all(token == "<image>" for p, token in enumerate(tokens) if p in in_views)
    assert all(token != "<image>" for p, token in enumerate(tokens) if p not in in_views)
    assert layouts[-1].name == "global"
    np.testing.assert_allclose(layouts[-1].boxes[-1, -1, 2:], size)


@pytest.mark.parametrize("size", [(150, 100), (300, 100), (100, 300), (60, 110)])
def test_each_token_holds_the_pixels_of_its_box(attributor, size):
    """In every square (and the global image) the share of white in a token's 8 × 8 pixel block
    is the share of the token's box that the white block covers in the original."""
    image, block = white_block_image(size)
    inputs = attributor.encode([image], attributor.prompts(["q"]))
    layouts = attributor.adapter.layouts(inputs, 0, image.size)
    # Lanczos resampling rings around the block's edges for about a pixel.
    frames = inputs["pixel_values"][0, :, 0]
    assert_tokens_hold_the_white_share_of_their_boxes(layouts, frames, block)


def test_a_change_inside_one_square_reaches_only_that_square_and_the_global_image(attributor):
    assert attributor.adapter.split(300, 100) == (1, 3)
    change = change_by_view_after_a_local_edit(attributor)  # well inside the middle square
    assert change["tile_0"] == 0 and change["tile_2"] == 0
    assert change["tile_1"] > 0 and change["global"] > 0


def test_without_splitting_the_image_is_the_global_view_alone(attributor, monkeypatch):
    monkeypatch.setattr(attributor.processor.image_processor, "do_image_splitting", False)
    layout, inputs = one_view_of_a_wide_image(attributor)
    assert layout.name == "global" and inputs["pixel_values"].shape[1] == 1
    np.testing.assert_allclose(layout.boxes[-1, -1], [225, 75, 300, 100])


def test_a_batch_of_different_splits_equals_eager_and_single_samples(attributor):
    images = [noise_image(300, 100, 3), noise_image(150, 100, 4)]
    assert_a_batch_of_two_equals_eager_and_single_samples(attributor, images, [4, 7])


def test_a_missing_image_token_is_a_geometry_error(attributor):
    assert_a_missing_image_token_is_a_geometry_error(attributor)


def test_a_processor_with_another_token_count_per_square_is_refused(attributor, monkeypatch):
    processor = attributor.processor
    monkeypatch.setattr(processor, "image_seq_len", processor.image_seq_len * 4)
    with pytest.raises(GeometryError, match="tokens per square"):
        Idefics3Adapter(attributor.model.config, processor)


def test_squares_of_another_patch_count_are_refused(attributor, monkeypatch):
    """36-px squares hold 9 patches of 4 px, which the connector cannot shuffle to 4 tokens."""
    monkeypatch.setattr(
        attributor.processor.image_processor, "max_image_size", {"longest_edge": 36}
    )
    inputs = attributor.encode([noise_image(150, 100, 0)], attributor.prompts(["q"]))
    with pytest.raises(GeometryError, match="patches a side"):
        attributor.adapter.layouts(inputs, 0, (150, 100))
