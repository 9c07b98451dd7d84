"""Idefics3 and SmolVLM: image splitting into squares plus the global image.

The shared tests (``test_attribution.py``) check exactness against eager, batching, geometry
and the round trip; these check the split itself against the processor: the grid, the marker
tokens around each square (in no view), the pixels each token was cut from, and which views a
local change reaches.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from test_attribution import (
    assert_a_missing_image_token_is_a_geometry_error,
    assert_batch_equals_eager_and_single_samples,
    covered_share,
    image_token_embeddings,
    noise_image,
)

from vea_augment.attribution.attributor import Attributor
from vea_augment.errors import GeometryError
from vea_augment.models.families.idefics3 import Idefics3Adapter
from vea_augment.options import ModelOptions
from vea_augment.testing.tiny import build_tiny_checkpoint

FLOAT32 = ModelOptions(dtype="float32")
FAMILIES = ["idefics3", "smolvlm"]
SIZES = [(150, 100), (300, 100), (100, 300), (96, 72), (60, 110), (20, 20), (401, 37), (32, 96)]


@pytest.fixture(scope="module", params=FAMILIES)
def attributor(request, tmp_path_factory: pytest.TempPathFactory) -> Attributor:
    family = request.param
    directory = build_tiny_checkpoint(family, tmp_path_factory.mktemp("tiny") / family)
    return Attributor.from_pretrained(directory, [0], FLOAT32)


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
    width, height = size
    block = (width // 2, height // 4, width // 2 + width // 3, height // 4 + height // 2)
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[block[1] : block[3], block[0] : block[2]] = 255
    image = Image.fromarray(pixels)
    inputs = attributor.encode([image], attributor.prompts(["q"]))
    layouts = attributor.adapter.layouts(inputs, 0, image.size)
    frames = inputs["pixel_values"][0, :, 0]
    black, white = frames.min(), frames.max()
    for layout, frame in zip(layouts, frames, strict=True):
        share = ((frame.reshape(4, 8, 4, 8).mean(dim=(1, 3)) - black) / (white - black)).numpy()
        # Lanczos resampling rings around the block's edges for about a pixel.
        covered = covered_share(layout.boxes, block)
        np.testing.assert_allclose(share, covered, atol=0.3, err_msg=layout.name)


def test_a_change_inside_one_square_reaches_only_that_square_and_the_global_image(attributor):
    base = noise_image(300, 100, 3)
    assert attributor.adapter.split(300, 100) == (1, 3)
    edited = np.asarray(base).copy()
    edited[30:70, 130:170] = 255  # well inside the middle square [100, 200)
    before, layouts = image_token_embeddings(attributor, base)
    after, _ = image_token_embeddings(attributor, Image.fromarray(edited))
    change = {
        layout.name: np.linalg.norm(after - before, axis=-1)[layout.positions].max()
        for layout in layouts
    }
    assert change["tile_0"] == 0 and change["tile_2"] == 0
    assert change["tile_1"] > 0 and change["global"] > 0


def test_without_splitting_the_image_is_the_global_view_alone(attributor):
    image_processor = attributor.processor.image_processor
    image_processor.do_image_splitting = False
    try:
        image = noise_image(300, 100, 2)
        inputs = attributor.encode([image], attributor.prompts(["q"]))
        (layout,) = attributor.adapter.layouts(inputs, 0, image.size)
        assert layout.name == "global" and inputs["pixel_values"].shape[1] == 1
        np.testing.assert_allclose(layout.boxes[-1, -1], [225, 75, 300, 100])
    finally:
        image_processor.do_image_splitting = True


def test_a_batch_of_different_splits_equals_eager_and_single_samples(attributor):
    images = [noise_image(300, 100, 3), noise_image(150, 100, 4)]
    questions = ["What is written on the sign?", "Which colour?"]
    batch = attributor.encode(images, attributor.prompts(questions))
    views = [attributor.adapter.layouts(batch, row, image.size) for row, image in enumerate(images)]
    assert [len(row) for row in views] == [4, 7]
    assert_batch_equals_eager_and_single_samples(attributor, batch, images, questions, [1, 3])


def test_a_missing_image_token_is_a_geometry_error(attributor):
    assert_a_missing_image_token_is_a_geometry_error(attributor)


def test_a_processor_with_another_token_count_per_square_is_refused(attributor):
    processor = attributor.processor
    saved = processor.image_seq_len
    processor.image_seq_len = saved * 4
    try:
        with pytest.raises(GeometryError, match="tokens per square"):
            Idefics3Adapter(attributor.model.config, processor)
    finally:
        processor.image_seq_len = saved
