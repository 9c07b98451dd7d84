"""The attribution engine on tiny random-weight models of every supported family.

Captured maps must equal the eager route (``attn_implementation="eager"``,
``output_attentions=True``, full forward) in float32; batches must equal single samples;
the forward pass must stop after the deepest chosen layer; token boxes must map back to the
pixels each token sees.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from synthetic_images import noise_image

from vea_augment.attribution.attributor import Attributor
from vea_augment.attribution.capture import capturing, run_until_captured
from vea_augment.errors import ConfigError, GeometryError
from vea_augment.method.labels import evidence_labels
from vea_augment.method.pipeline import evidence_mask
from vea_augment.method.types import MaskConfig, TokenView
from vea_augment.models.families.gemma3 import configure_pan_and_scan
from vea_augment.models.loading import load_model_and_processor
from vea_augment.models.registry import adapter_for
from vea_augment.options import ModelOptions
from vea_augment.testing.tiny import TINY_FAMILIES, build_tiny_checkpoint

RELATIVE_TOLERANCE = 1e-5
FLOAT32 = ModelOptions(dtype="float32")
#: Families that cut an elongated image into several tiles (crops, splits) plus a whole view.
MULTI_TILE_FAMILIES = tuple(
    family
    for family in TINY_FAMILIES
    if family in {"gemma3", "llava_next", "internvl", "idefics3", "smolvlm"}
)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("tiny")
    return {family: str(build_tiny_checkpoint(family, root / family)) for family in TINY_FAMILIES}


def relative_error(actual: torch.Tensor | np.ndarray, expected: torch.Tensor | np.ndarray) -> float:
    actual_t, expected_t = torch.as_tensor(actual).double(), torch.as_tensor(expected).double()
    return float((actual_t - expected_t).abs().max() / expected_t.abs().max())


def eager_last_rows(directory: str, inputs) -> list[torch.Tensor]:
    """The paper's route: eager attention, every layer's full matrix, last row, head mean."""
    model, _ = load_model_and_processor(
        directory, ModelOptions(dtype="float32", attn_implementation="eager")
    )
    with torch.inference_mode():
        output = model(**inputs, use_cache=False, output_attentions=True)
    return [attention[:, :, -1, :].float().mean(dim=1) for attention in output.attentions]


def captured_rows(attributor: Attributor, inputs, layers: list[int]) -> dict[int, torch.Tensor]:
    with torch.inference_mode(), capturing(attributor.attention_modules, layers) as session:
        return run_until_captured(lambda: attributor.model(**inputs, use_cache=False), session)


def assert_batch_equals_eager_and_single_samples(
    attributor: Attributor, batch, images: list, questions: list[str], layers: list[int]
) -> None:
    """A padded ``batch`` of ``images``: every layer's captured rows equal the eager route's,
    and the views attributed at ``layers`` equal those of each sample attributed alone."""
    expected = eager_last_rows(attributor.model_id, batch)
    captured = captured_rows(attributor, batch, list(range(attributor.num_layers)))
    for layer, rows in captured.items():
        assert relative_error(rows, expected[layer]) < RELATIVE_TOLERANCE
    batched = attributor.attribute_batch(images, questions, layers=layers)
    for image, question, from_batch in zip(images, questions, batched, strict=True):
        alone = attributor.attribute(image, question, layers=layers)
        for view_alone, view_batched in zip(alone.token_views, from_batch.token_views, strict=True):
            assert view_alone.name == view_batched.name
            assert relative_error(view_batched.scores, view_alone.scores) < RELATIVE_TOLERANCE


def assert_a_missing_image_token_is_a_geometry_error(attributor: Attributor) -> None:
    """Replacing the first image token of a prompt by padding makes the layout a GeometryError."""
    image = noise_image(150, 100, 0)
    inputs = attributor.encode([image], attributor.prompts(["q"]))
    ids = inputs["input_ids"].clone()
    first = int(np.flatnonzero(ids[0].numpy() == attributor.adapter.image_token_id)[0])
    ids[0, first] = attributor.processor.tokenizer.pad_token_id
    with pytest.raises(GeometryError, match="image tokens"):
        attributor.adapter.layouts({"input_ids": ids}, 0, image.size)


IMAGES = [(96, 72), (60, 110)]
QUESTIONS = ["What is written on the sign?", "Which colour?"]


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_captured_rows_equal_the_eager_route_for_a_padded_batch_and_single_samples(
    checkpoints, family
):
    attributor = Attributor.from_pretrained(checkpoints[family], [0], FLOAT32)
    all_layers = list(range(attributor.num_layers))
    images = [noise_image(w, h, seed) for seed, (w, h) in enumerate(IMAGES)]
    batch = attributor.encode(images, attributor.prompts(QUESTIONS))
    assert batch["attention_mask"].min() == 0, "the batch must really be left-padded"
    expected = eager_last_rows(checkpoints[family], batch)
    captured = captured_rows(attributor, batch, all_layers)
    for layer in all_layers:
        assert relative_error(captured[layer], expected[layer]) < RELATIVE_TOLERANCE
    single = attributor.encode(images[:1], attributor.prompts(QUESTIONS[:1]))
    expected_single = eager_last_rows(checkpoints[family], single)
    captured_single = captured_rows(attributor, single, all_layers)
    for layer in all_layers:
        assert relative_error(captured_single[layer], expected_single[layer]) < RELATIVE_TOLERANCE


@pytest.mark.parametrize("style", ["base", "vea"])
@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_the_question_s_own_tokens_are_located_in_a_padded_batch(
    checkpoints, family, style, monkeypatch
):
    from vea_augment.models import prompting

    # From the prompt's character offsets, placed from the end: not the fallback search.
    monkeypatch.setattr(prompting, "_last_occurrence", lambda *args: pytest.fail("fallback"))
    attributor = Attributor.from_pretrained(checkpoints[family], [0], FLOAT32, prompt_style=style)
    images = [noise_image(w, h, seed) for seed, (w, h) in enumerate(IMAGES)]
    captured = attributor.capture(images, QUESTIONS)
    ids = attributor.encode(images, captured.prompts)["input_ids"]
    tokenizer = attributor.processor.tokenizer
    for row, question in enumerate(QUESTIONS):
        positions = captured.question_positions[row]
        assert tokenizer.decode(ids[row, positions]).strip() == question.lower()
        assert captured.prompt_mask[row, positions].all()
        assert not set(positions) & set(captured.image_positions(row))


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_a_batch_gives_the_same_token_scores_as_one_by_one(checkpoints, family):
    attributor = Attributor.from_pretrained(checkpoints[family], [1, 2], FLOAT32)
    images = [noise_image(w, h, seed) for seed, (w, h) in enumerate(IMAGES)]
    batched = attributor.attribute_batch(images, QUESTIONS)
    for image, question, from_batch in zip(images, QUESTIONS, batched, strict=True):
        alone = attributor.attribute(image, question)
        assert alone.prompt == from_batch.prompt
        for view_alone, view_batched in zip(alone.token_views, from_batch.token_views, strict=True):
            assert view_alone.scores.shape == view_batched.scores.shape
            assert relative_error(view_batched.scores, view_alone.scores) < RELATIVE_TOLERANCE
            np.testing.assert_array_equal(view_alone.boxes, view_batched.boxes)


@pytest.mark.parametrize("family", ["qwen2_vl", "llava"])
def test_eq1_scores_are_the_mean_over_layers_of_the_image_token_attention(checkpoints, family):
    attributor = Attributor.from_pretrained(checkpoints[family], [1, 3], FLOAT32)
    result = attributor.attribute(noise_image(80, 64, 3), "Where?")
    expected = (result.layer_views[1][0].scores + result.layer_views[3][0].scores) / 2
    np.testing.assert_allclose(result.token_views[0].scores, expected, rtol=1e-12)
    assert result.mask().shape == (64, 80)


def test_layers_above_the_deepest_chosen_one_never_run(checkpoints):
    attributor = Attributor.from_pretrained(checkpoints["qwen2_5_vl"], [1], FLOAT32)
    decoder = attributor.model.get_decoder()
    ran: list[str] = []
    for index, layer in enumerate(decoder.layers):
        layer.register_forward_pre_hook(lambda *_, i=index: ran.append(f"layer {i}"))
    decoder.norm.register_forward_pre_hook(lambda *_: ran.append("final norm"))
    attributor.model.lm_head.register_forward_pre_hook(lambda *_: ran.append("lm head"))
    attributor.attribute(noise_image(64, 64, 0), "What?")
    assert ran == ["layer 0", "layer 1"]
    ran.clear()
    with torch.inference_mode():
        image = noise_image(64, 64, 0)
        attributor.model(**attributor.encode([image], attributor.prompts(["x"])), use_cache=False)
    assert ran[-2:] == ["final norm", "lm head"], "outside a capture the model runs in full"


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen3_vl"])
def test_consecutive_calls_with_different_images_match_fresh_calls(checkpoints, family):
    first, second = noise_image(120, 60, 1), noise_image(56, 112, 2)
    warm = Attributor.from_pretrained(checkpoints[family], [2], FLOAT32)
    warm.attribute(first, "What is this?")
    after_other = warm.attribute(second, "What?")
    fresh = Attributor.from_pretrained(checkpoints[family], [2], FLOAT32).attribute(second, "What?")
    np.testing.assert_allclose(
        after_other.token_views[0].scores, fresh.token_views[0].scores, rtol=1e-6, atol=0
    )


def image_token_embeddings(attributor: Attributor, image: Image.Image) -> tuple[np.ndarray, list]:
    """The language model's input embeddings at the image tokens, and the token layouts."""
    seen: dict[str, torch.Tensor] = {}

    def grab(_module, _args, kwargs):
        seen["embeds"] = kwargs["inputs_embeds"].detach()

    handle = attributor.model.get_decoder().register_forward_pre_hook(grab, with_kwargs=True)
    inputs = attributor.encode([image], attributor.prompts(["What?"]))
    layouts = attributor.adapter.layouts(inputs, 0, image.size)
    attributor.attribute(image, "What?")
    handle.remove()
    embeds = seen["embeds"][0].double().numpy()
    return embeds, layouts


def covered_share(boxes: np.ndarray, block: tuple[int, int, int, int]) -> np.ndarray:
    """The share of each box's area that ``block`` (xyxy) covers."""
    overlap_w = np.clip(
        np.minimum(boxes[..., 2], block[2]) - np.maximum(boxes[..., 0], block[0]), 0, None
    )
    overlap_h = np.clip(
        np.minimum(boxes[..., 3], block[3]) - np.maximum(boxes[..., 1], block[1]), 0, None
    )
    area = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    return overlap_w * overlap_h / area


def box_overlaps(box: np.ndarray, region: tuple[int, int, int, int]) -> bool:
    return box[0] < region[2] and region[0] < box[2] and box[1] < region[3] and region[1] < box[3]


def assert_changes_map_back(
    attributor: Attributor, width: int, height: int, region: tuple[int, int, int, int]
) -> list:
    """Whiten ``region``; in every view that sees it, the tokens that change most cover it.

    Returns the layouts. Views that do not overlap the region are exempt (a view resized as a
    whole before it is cut may leak a little across its border), but the token that changes
    most over all views must cover the region.
    """
    base = noise_image(width, height, 7)
    perturbed = np.asarray(base).copy()
    perturbed[region[1] : region[3], region[0] : region[2]] = 255
    before, layouts = image_token_embeddings(attributor, base)
    after, _ = image_token_embeddings(attributor, Image.fromarray(perturbed))
    change = np.linalg.norm(after - before, axis=-1)
    seen = 0
    for layout in layouts:
        if not any(box_overlaps(box, region) for box in layout.boxes.reshape(-1, 4)):
            continue
        seen += 1
        view_change = change[layout.positions]
        top = np.unravel_index(np.argsort(view_change, axis=None)[::-1][:2], view_change.shape)
        for r, c in zip(*top, strict=True):
            assert box_overlaps(layout.boxes[r, c], region), (layout.name, layout.boxes[r, c])
    assert seen, "no view covers the region"
    strongest = max(layouts, key=lambda layout: change[layout.positions].max())
    view_change = change[strongest.positions]
    r, c = np.unravel_index(np.argmax(view_change), view_change.shape)
    assert box_overlaps(strongest.boxes[r, c], region), (strongest.name, strongest.boxes[r, c])
    return layouts


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_the_tokens_that_change_most_when_a_region_changes_map_back_to_that_region(
    checkpoints, family
):
    attributor = Attributor.from_pretrained(checkpoints[family], [0], FLOAT32)
    layouts = assert_changes_map_back(attributor, 150, 100, (95, 55, 125, 85))
    if family not in MULTI_TILE_FAMILIES:
        assert len(layouts) == 1


def with_tiles(attributor: Attributor, family: str) -> Attributor:
    """Switch on the family's multi-tile mode where the released processor has it off."""
    if family == "gemma3":
        configure_pan_and_scan(attributor.processor, pan_and_scan_min_crop_size=16)
    return attributor


def tile_count(attributor: Attributor, layouts: list, size: tuple[int, int]) -> int:
    """How many tiles (crops, splits) the layouts hold, the whole-image view not counted.

    LLaVA-NeXT lays all its tiles out as one grid (one view), so its count is that grid's.
    """
    if attributor.model.config.model_type == "llava_next":
        assert [layout.name for layout in layouts] == ["base", "tiles"]
        rows, cols = attributor.adapter.tile_grid(*size)
        return rows * cols
    return sum(layout.name not in ("image", "thumbnail", "global") for layout in layouts)


#: A 3:1 wide and a 1:3 tall image, each with a region inside one end.
WIDE_AND_TALL = [((300, 100), (210, 30, 250, 70)), ((100, 300), (30, 210, 70, 250))]


@pytest.mark.parametrize(("size", "region"), WIDE_AND_TALL, ids=["wide", "tall"])
@pytest.mark.parametrize("family", MULTI_TILE_FAMILIES)
def test_on_wide_and_tall_images_every_tile_maps_back_to_the_region(
    checkpoints, family, size, region
):
    attributor = with_tiles(Attributor.from_pretrained(checkpoints[family], [0], FLOAT32), family)
    layouts = assert_changes_map_back(attributor, *size, region)
    assert tile_count(attributor, layouts, size) > 1, [layout.name for layout in layouts]


def test_llava_centre_crop_regions_are_covered_by_no_token(checkpoints):
    attributor = Attributor.from_pretrained(checkpoints["llava"], [0], FLOAT32)
    width, height = 200, 80
    base = noise_image(width, height, 5)
    (layout,) = attributor.adapter.layouts(
        attributor.encode([base], attributor.prompts(["q"])), 0, base.size
    )
    covered_x0, covered_x1 = layout.boxes[..., 0].min(), layout.boxes[..., 2].max()
    assert covered_x0 > 0 and covered_x1 < width, "the crop drops the left and right ends"
    assert covered_x1 - covered_x0 == pytest.approx(height), "the kept part is the centre square"
    edited = np.asarray(base).copy()
    # Bicubic resampling blends a few pixels across the crop edge; stay clear of them.
    edited[:, : int(covered_x0) - 6] = 0
    before, _ = image_token_embeddings(attributor, base)
    after, _ = image_token_embeddings(attributor, Image.fromarray(edited))
    np.testing.assert_array_equal(after[layout.positions], before[layout.positions])


def test_llava_pad_variant_tokens_cover_the_whole_image_plus_background(checkpoints):
    attributor = Attributor.from_pretrained(checkpoints["llava_pad"], [0], FLOAT32)
    image = noise_image(200, 80, 5)
    (layout,) = attributor.adapter.layouts(
        attributor.encode([image], attributor.prompts(["q"])), 0, image.size
    )
    assert layout.boxes[..., 0].min() == pytest.approx(0.0)
    assert layout.boxes[..., 2].max() == pytest.approx(200.0)
    assert layout.boxes[..., 1].min() == pytest.approx(-60.0)
    assert layout.boxes[..., 3].max() == pytest.approx(140.0)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_box_to_labels_to_mask_round_trip_covers_the_original_box(checkpoints, family):
    attributor = Attributor.from_pretrained(checkpoints[family], [0], FLOAT32)
    model_config = attributor.model.config
    image = noise_image(140, 90, 1)
    inputs = attributor.encode([image], attributor.prompts(["q"]))
    layouts = adapter_for(model_config, attributor.processor).layouts(inputs, 0, image.size)
    evidence = np.array([[40.0, 30.0, 80.0, 60.0]])
    views = []
    for layout in layouts:
        labels = evidence_labels(layout.boxes.reshape(-1, 4), evidence, rule="any")
        scores = labels.reshape(layout.grid_shape).astype(float)
        views.append(TokenView(layout.name, scores, layout.boxes))
    mask = evidence_mask(views, *image.size, MaskConfig(sigma=0.0, denoise=False))
    assert mask[30:60, 40:80].min() == 1.0
    if family != "llava":
        assert mask.mean() < 0.6, "the painted labels stay near the box"


def test_a_layer_outside_the_model_names_the_valid_range(checkpoints):
    with pytest.raises(ConfigError, match=r"valid indices are 0\.\.3"):
        Attributor.from_pretrained(checkpoints["qwen2_vl"], [2, 4], FLOAT32)
    attributor = Attributor.from_pretrained(checkpoints["qwen2_vl"], [2], FLOAT32)
    with pytest.raises(ConfigError, match=r"\[-1\]"):
        attributor.attribute(noise_image(32, 32, 0), "q", layers=[-1])


def test_an_image_truncated_by_max_length_is_an_error_not_a_wrong_map(checkpoints):
    attributor = Attributor.from_pretrained(checkpoints["qwen2_vl"], [1], FLOAT32, max_length=12)
    with pytest.raises(GeometryError, match="image tokens"):
        attributor.attribute(noise_image(96, 96, 0), "What does the sign say?")


def test_a_family_without_adapter_names_the_supported_ones():
    from transformers import GPT2Config

    with pytest.raises(ConfigError, match=r"supported: .*llava.*qwen2_5_vl"):
        adapter_for(GPT2Config(), processor=None)


def test_highlight_returns_the_image_dimmed_by_eq4_with_the_attributions_own_mask(checkpoints):
    from vea_augment.method.highlight import highlight_image

    attributor = Attributor.from_pretrained(checkpoints["qwen2_vl"], [1], FLOAT32)
    image = noise_image(60, 44, seed=3)
    result = attributor.attribute(image, "What?")
    config = MaskConfig(alpha=0.3)
    highlighted = result.highlight(image, config)
    expected = highlight_image(np.asarray(image.convert("RGB")), result.mask(config), 0.3)
    assert isinstance(highlighted, np.ndarray)
    assert highlighted.dtype == np.uint8 and highlighted.shape == (44, 60, 3)
    np.testing.assert_array_equal(highlighted, expected)
    with pytest.raises(GeometryError, match="the attribution is for"):
        result.highlight(noise_image(30, 30), config)
