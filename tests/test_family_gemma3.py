"""Gemma-3: the attention scale and sliding window its capture must honour, and pan-and-scan.

The shared tests (``test_attribution.py``) check exactness against eager, batching, geometry
and the round trip; these check what is particular to Gemma-3: a scale that is not
``head_dim ** -0.5``, sliding-window layers whose window cuts through the image, and crop
views over the original image's crop rectangles.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from family_checks import (
    FLOAT32,
    QUESTIONS,
    assert_a_batch_of_two_equals_eager_and_single_samples,
    change_by_view_after_a_local_edit,
    one_view_of_a_wide_image,
)
from synthetic_images import noise_image
from test_attribution import RELATIVE_TOLERANCE, captured_rows, eager_last_rows, relative_error

from vea_augment.attribution.attributor import Attributor
from vea_augment.errors import GeometryError
from vea_augment.models.families.gemma3 import configure_pan_and_scan, pan_and_scan_crops
from vea_augment.testing.tiny import GEMMA3_SLIDING_WINDOW, build_tiny_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(build_tiny_checkpoint("gemma3", tmp_path_factory.mktemp("tiny") / "gemma3"))


def pan_and_scan_attributor(checkpoint: str) -> Attributor:
    attributor = Attributor.from_pretrained(checkpoint, [0], FLOAT32)
    configure_pan_and_scan(attributor.processor, pan_and_scan_min_crop_size=16)
    return attributor


def test_the_tiny_config_really_has_its_own_scale_and_a_short_sliding_window(checkpoint):
    attributor = Attributor.from_pretrained(checkpoint, [0], FLOAT32)
    text = attributor.model.config.text_config
    assert text.query_pre_attn_scalar != text.head_dim
    assert {"sliding_attention", "full_attention"} == set(text.layer_types)
    for module in attributor.attention_modules:
        assert module.scaling == pytest.approx(text.query_pre_attn_scalar**-0.5)
    batch = attributor.encode([noise_image(96, 72, 0)], attributor.prompts(QUESTIONS[:1]))
    assert batch["input_ids"].shape[1] > text.sliding_window == GEMMA3_SLIDING_WINDOW


def test_sliding_layers_see_only_the_window_and_it_cuts_through_the_image(checkpoint):
    attributor = Attributor.from_pretrained(checkpoint, [0], FLOAT32)
    layer_types = attributor.model.config.text_config.layer_types
    images = [noise_image(96, 72, 0), noise_image(60, 110, 1)]
    batch = attributor.encode(images, attributor.prompts(QUESTIONS))
    rows = captured_rows(attributor, batch, list(range(attributor.num_layers)))
    keys = batch["input_ids"].shape[1]
    window = torch.arange(keys) > keys - 1 - GEMMA3_SLIDING_WINDOW
    real = batch["attention_mask"].bool()
    for row in range(len(images)):
        (layout,) = attributor.adapter.layouts(batch, row, images[row].size)
        image_positions = torch.as_tensor(layout.positions.reshape(-1))
        for layer, kind in enumerate(layer_types):
            weights = rows[layer][row]
            visible = real[row] & window if kind == "sliding_attention" else real[row]
            assert (weights[~visible] == 0).all(), (layer, kind)
            assert (weights[visible] > 0).all(), (layer, kind)
            assert weights.sum() == pytest.approx(1.0, abs=1e-5)
        inside = window[image_positions]
        assert inside.any() and not inside.all(), "the window must cut through the image"


def test_a_head_dim_scale_would_not_match_eager(checkpoint):
    """The exactness test can see a wrong scale: with head_dim ** -0.5 the rows differ."""
    attributor = Attributor.from_pretrained(checkpoint, [0], FLOAT32)
    batch = attributor.encode([noise_image(96, 72, 0)], attributor.prompts(QUESTIONS[:1]))
    expected = eager_last_rows(checkpoint, batch)
    right = captured_rows(attributor, batch, [1])[1]
    assert relative_error(right, expected[1]) < RELATIVE_TOLERANCE
    head_dim = attributor.model.config.text_config.head_dim
    for module in attributor.attention_modules:
        module.scaling = head_dim**-0.5
    wrong = captured_rows(attributor, batch, [1])[1]
    assert relative_error(wrong, expected[1]) > 1e-3


@pytest.mark.parametrize(
    "size", [(300, 100), (301, 100), (100, 300), (90, 401), (500, 100), (110, 100), (100, 100)]
)
def test_pan_and_scan_crops_are_the_image_processors_crops(checkpoint, size):
    attributor = pan_and_scan_attributor(checkpoint)
    width, height = size
    pixels = torch.arange(3 * height * width, dtype=torch.float32).reshape(1, 3, height, width)
    expected = attributor.processor.image_processor.pan_and_scan_batched(pixels, 16, 4, 1.2)
    rectangles = pan_and_scan_crops(width, height, 16, 4, 1.2)
    assert len(rectangles) == len(expected)
    for (x0, y0, x1, y1), crop in zip(rectangles, expected, strict=True):
        torch.testing.assert_close(pixels[..., y0:y1, x0:x1], crop, rtol=0, atol=0)


def test_pan_and_scan_crops_are_views_over_their_crop_rectangles(checkpoint):
    attributor = pan_and_scan_attributor(checkpoint)
    image = noise_image(300, 100, 2)
    inputs = attributor.encode([image], attributor.prompts(["q"]))
    layouts = attributor.adapter.layouts(inputs, 0, image.size)
    assert [layout.name for layout in layouts] == ["image", "crop_0", "crop_1", "crop_2"]
    assert int((inputs["input_ids"] == attributor.adapter.image_token_id).sum()) == 4 * 36
    assert len(inputs["pixel_values"]) == 4
    for index, layout in enumerate(layouts):
        x0, x1 = (0, 300) if index == 0 else (100 * (index - 1), 100 * index)
        assert layout.grid_shape == (6, 6)
        assert layout.boxes[..., 0].min() == pytest.approx(x0)
        assert layout.boxes[..., 2].max() == pytest.approx(x1)
        assert layout.boxes[..., 1].min() == 0 and layout.boxes[..., 3].max() == 100
    positions = np.concatenate([layout.positions.reshape(-1) for layout in layouts])
    assert np.all(np.diff(positions) > 0), "views come in prompt order: image, then crops"


def test_a_change_inside_one_crop_leaves_the_other_crops_untouched(checkpoint):
    attributor = pan_and_scan_attributor(checkpoint)
    change = change_by_view_after_a_local_edit(attributor)
    assert change["crop_0"] == 0 and change["crop_2"] == 0
    assert change["crop_1"] > 0 and change["image"] > 0


def test_without_pan_and_scan_a_wide_image_is_one_view(checkpoint):
    attributor = Attributor.from_pretrained(checkpoint, [0], FLOAT32)
    layout, _ = one_view_of_a_wide_image(attributor)
    assert layout.name == "image" and layout.grid_shape == (6, 6)
    np.testing.assert_allclose(layout.boxes[0, 0], [0, 0, 50, 100 / 6])


def test_a_batch_with_and_without_crops_equals_eager_and_single_samples(checkpoint):
    attributor = pan_and_scan_attributor(checkpoint)
    images = [noise_image(300, 100, 4), noise_image(80, 80, 5)]
    # Layer 1 is global: a sliding layer's window ends before the whole-image view here.
    assert_a_batch_of_two_equals_eager_and_single_samples(attributor, images, [4, 1], layers=[1])


def test_crops_the_adapter_does_not_expect_are_a_geometry_error(checkpoint):
    attributor = pan_and_scan_attributor(checkpoint)
    image = noise_image(300, 100, 2)
    inputs = attributor.encode([image], attributor.prompts(["q"]))
    configure_pan_and_scan(attributor.processor, pan_and_scan_max_num_crops=2)
    with pytest.raises(GeometryError, match="image tokens"):
        attributor.adapter.layouts(inputs, 0, image.size)


def test_a_missing_image_token_is_a_geometry_error(checkpoint):
    attributor = Attributor.from_pretrained(checkpoint, [0], FLOAT32)
    image = noise_image(96, 72, 0)
    inputs = attributor.encode([image], attributor.prompts(["q"]))
    ids = inputs["input_ids"].clone()
    ids[ids == attributor.adapter.image_token_id] = ids[0, 0]
    ids[0, -1] = attributor.adapter.image_token_id  # 1 token where 36 are expected
    with pytest.raises(GeometryError, match="image tokens"):
        attributor.adapter.layouts({"input_ids": ids}, 0, image.size)
