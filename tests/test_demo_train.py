"""The demo model's training script: token labels, the vision stage, answer-only labels, the
evidence-blind augmentation, the grounding loss, seeded runs."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from vea_augment.demo.corpus import COLOURS, SHAPES, CorpusConfig, SyntheticSample, generate_samples
from vea_augment.demo.training.augmentation import (
    AUGMENTATION_SEED_OFFSET,
    PhotometricAugmentation,
    PhotometricDraw,
    apply_change,
    augment_images,
    dimming_map,
    draw_change,
)
from vea_augment.demo.training.grounding import answering_positions, grounding_loss
from vea_augment.demo.training.recipe import TrainRecipe
from vea_augment.demo.training.train import (
    _override,
    augmentation_of,
    evidence_masks,
    make_batch,
    train,
)
from vea_augment.demo.training.vision_pretraining import (
    VisionPretraining,
    cell_labels,
    pretrain_vision,
)
from vea_augment.testing.tiny import build_tiny_checkpoint

EMPTY_SHAPE, EMPTY_COLOUR = len(SHAPES), len(COLOURS)


def scene(objects: list[dict[str, object]]) -> SyntheticSample:
    return SyntheticSample(
        id="hand",
        image=Image.new("RGB", (196, 196)),
        question="what colour is the circle?",
        answers=["red"],
        evidence_boxes=[],
        dataset="hand",
        kind="shapes",
        objects=objects,
    )


def test_cell_labels_name_the_object_on_every_token_of_its_block_and_every_other_token_empty():
    hand = scene(
        [
            {
                "shape": "circle",
                "colour": "blue",
                "box": [30.0, 2.0, 80.0, 52.0],
            },  # rows 0-1, cols 1-2
            {
                "shape": "diamond",
                "colour": "red",
                "box": [113.0, 58.0, 190.0, 135.0],
            },  # rows 2-4, cols 4-6
        ]
    )
    shapes, colours = cell_labels([hand, scene([])], CorpusConfig())
    circle, diamond = [1, 2, 8, 9], [r * 7 + c for r in (2, 3, 4) for c in (4, 5, 6)]
    expected_shapes = torch.full((98,), EMPTY_SHAPE)
    expected_shapes[circle], expected_shapes[diamond] = (
        SHAPES.index("circle"),
        SHAPES.index("diamond"),
    )
    expected_colours = torch.full((98,), EMPTY_COLOUR)
    expected_colours[circle], expected_colours[diamond] = list(COLOURS).index("blue"), 0
    assert torch.equal(shapes, expected_shapes) and torch.equal(colours, expected_colours)


def test_generated_objects_label_exactly_the_tokens_their_boxes_overlap():
    config = CorpusConfig()
    samples = generate_samples(20, seed=5, kinds=("shapes",))
    shapes, _ = cell_labels(samples, config)
    tokens = config.grid * config.grid
    for index, sample in enumerate(samples):
        row = shapes[index * tokens : (index + 1) * tokens]
        expected = torch.full((tokens,), EMPTY_SHAPE)
        for item in sample.objects:
            x0, y0, x1, y1 = item["box"]
            for r in range(tokens // config.grid):
                for c in range(config.grid):
                    if c * 28 < x1 and x0 < c * 28 + 28 and r * 28 < y1 and y0 < r * 28 + 28:
                        expected[r * config.grid + c] = SHAPES.index(item["shape"])
        assert torch.equal(row, expected), sample.id
        assert int((row != EMPTY_SHAPE).sum()) >= 4 * config.objects


def test_the_evidence_mask_marks_every_token_of_the_evidence_box_and_no_other():
    samples = generate_samples(4, seed=2, kinds=("shapes",))
    masks = evidence_masks(samples, CorpusConfig())
    assert masks.shape == (4, 49) and masks.dtype == torch.bool
    for row, sample in enumerate(samples):
        expected = torch.zeros(49, dtype=torch.bool)
        expected[CorpusConfig().tokens_of(sample.evidence_boxes[0])] = True
        assert torch.equal(masks[row], expected) and int(expected.sum()) >= 4


@pytest.fixture(scope="module")
def demo_sized_model(tmp_path_factory):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    directory = build_tiny_checkpoint(
        "qwen2_vl", tmp_path_factory.mktemp("demo") / "m", max_pixels=CorpusConfig().size ** 2
    )
    model = AutoModelForImageTextToText.from_pretrained(directory, dtype=torch.float32)
    return model, AutoProcessor.from_pretrained(directory)


def test_the_vision_stage_changes_the_vision_tower_and_nothing_else(demo_sized_model):
    model, processor = demo_sized_model
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    accuracy = pretrain_vision(model, processor, VisionPretraining(steps=2, batch_size=4))
    assert set(accuracy) == {"shape", "colour"}
    changed = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert changed and all(name.startswith("model.visual.") for name in changed)
    assert any(name.startswith("model.visual.merger.") for name in changed)


def test_training_labels_cover_the_answer_and_the_closing_token_only(demo_sized_model):
    _, processor = demo_sized_model
    samples = generate_samples(3, seed=0, kinds=("shapes",))
    batch = make_batch(processor, samples, ["short", "vea", "base"])
    for row, sample in enumerate(samples):
        labelled = batch["labels"][row][batch["labels"][row] != -100]
        tokens = processor.tokenizer.convert_ids_to_tokens(labelled.tolist())
        assert tokens == [sample.answers[0], "<|im_end|>"]


@pytest.mark.parametrize("train_merger", [False, True])
def test_after_stage_one_the_vision_blocks_stay_frozen_and_the_merger_trains_only_if_asked(
    tmp_path, train_merger
):
    from transformers import AutoModelForImageTextToText

    recipe = replace(
        TrainRecipe(),
        vision_steps=2,
        steps=3,
        batch_size=2,
        warmup_steps=1,
        hidden_size=64,
        train_merger=train_merger,
    )
    log = train(recipe, tmp_path / "model", log_every=0)
    assert log["recipe"]["steps"] == 3 and set(log["vision_pretraining_last_batch_accuracy"])
    json.dumps(log)
    trained = AutoModelForImageTextToText.from_pretrained(tmp_path / "model")
    train(replace(recipe, steps=0), tmp_path / "stage-one", log_every=0)
    after_vision_stage = AutoModelForImageTextToText.from_pretrained(tmp_path / "stage-one")
    for (name, weight), (_, reference) in zip(
        trained.named_parameters(), after_vision_stage.named_parameters(), strict=True
    ):
        merger = name.startswith("model.visual.merger.")
        frozen = name.startswith("model.visual.") and not (merger and train_merger)
        assert torch.equal(weight, reference) == frozen, name


def test_the_grounding_loss_is_minus_log_the_evidence_share_of_the_head_mean_image_attention():
    image_id = 9
    input_ids = torch.tensor([[1, 9, 9, 9, 9, 2]])
    last_rows = torch.tensor(
        [[0.1, 0.2, 0.3, 0.1, 0.2, 0.1], [0.3, 0.0, 0.5, 0.1, 0.0, 0.1]]
    )  # two heads; their mean over the image tokens is 0.1, 0.4, 0.1, 0.1
    attention = torch.zeros(1, 2, 6, 6)
    attention[0, :, 5, :] = last_rows
    attention[0, :, 4, 2] = 1.0  # another query position looks elsewhere: it must not count
    evidence = torch.tensor([[False, True, False, False]])
    loss = grounding_loss([attention], input_ids, image_id, evidence, [0], torch.tensor([5]))
    assert loss.item() == pytest.approx(-math.log(0.4 / 0.7 + 1e-6), rel=1e-6)


def test_over_several_evidence_tokens_the_grounding_loss_asks_for_attention_spread_evenly():
    input_ids = torch.tensor([[9, 9, 9, 9, 1]])
    evidence = torch.tensor([[True, True, False, False]])
    last = torch.tensor([4])

    def loss_for(image_attention: list[float]) -> float:
        attention = torch.zeros(1, 1, 5, 5)
        attention[0, 0, 4, :4] = torch.tensor(image_attention)
        return grounding_loss([attention], input_ids, 9, evidence, [0], last).item()

    assert loss_for([0.3, 0.3, 0.0, 0.0]) < 1e-5  # even over the evidence, nothing elsewhere
    # All on one evidence token: the other's share is 0, -log(2 * 0 + 1e-6) / 2 for the row.
    assert loss_for([0.6, 0.0, 0.0, 0.0]) == pytest.approx(
        (-math.log(2.0 + 1e-6) - math.log(1e-6)) / 2, rel=1e-6
    )
    uneven = loss_for([0.45, 0.15, 0.2, 0.2])  # shares 0.45 and 0.15 of 1
    assert uneven == pytest.approx(-(math.log(0.9 + 1e-6) + math.log(0.3 + 1e-6)) / 2, rel=1e-6)


def test_the_grounding_loss_averages_layers_and_vanishes_when_image_attention_is_all_on_evidence():
    input_ids = torch.tensor([[9, 9, 1], [9, 9, 1]])
    focused = torch.zeros(2, 1, 3, 3)
    focused[:, 0, -1] = torch.tensor([[0.0, 0.6, 0.4], [0.5, 0.0, 0.5]])
    spread = torch.zeros(2, 1, 3, 3)
    spread[:, 0, -1] = torch.tensor([[0.25, 0.25, 0.5], [0.25, 0.25, 0.5]])
    evidence, last = torch.tensor([[False, True], [True, False]]), torch.tensor([2, 2])
    assert grounding_loss([focused], input_ids, 9, evidence, [0], last).item() < 1e-5
    both = grounding_loss([focused, spread], input_ids, 9, evidence, [0, 1], last).item()
    assert both == pytest.approx(-math.log(0.5 + 1e-6) / 2, rel=1e-5)


def test_the_answering_position_is_the_one_that_predicts_the_first_answer_token(demo_sized_model):
    _, processor = demo_sized_model
    samples = generate_samples(2, seed=3)
    batch = make_batch(processor, samples, ["base", "short"])
    positions = answering_positions(batch["labels"])
    for row, sample in enumerate(samples):
        position = int(positions[row])
        assert batch["labels"][row, position] == -100
        answer_id = int(batch["labels"][row, position + 1])
        assert processor.tokenizer.convert_ids_to_tokens([answer_id]) == [sample.answers[0]]


def test_recipe_fields_are_overridden_from_the_command_line_with_their_own_types():
    recipe = _override(TrainRecipe(), "grounding_layers=1,3")
    recipe = _override(recipe, "train_merger=false")
    recipe = _override(recipe, "learning_rate=0.001")
    assert recipe.grounding_layers == (1, 3) and recipe.train_merger is False
    assert recipe.learning_rate == 0.001 and recipe.steps == TrainRecipe().steps
    with pytest.raises(SystemExit, match="no_such_field"):
        _override(recipe, "no_such_field=1")


# -- The photometric augmentation: what it changes is drawn from the seed, never the sample --

AUGMENT = PhotometricAugmentation(probability=1.0, dimming_probability=1.0)


def one_object(box: tuple[int, int, int, int], colour: tuple[int, int, int]) -> Image.Image:
    """A grey 196-px image with one coloured rectangle at ``box``."""
    pixels = np.full((196, 196, 3), 120, dtype=np.uint8)
    x0, y0, x1, y1 = box
    pixels[y0:y1, x0:x1] = colour
    return Image.fromarray(pixels)


def test_the_same_seed_changes_two_scenes_alike_wherever_their_pixels_agree():
    """A change that looked at where the evidence is would treat the grey around the left
    object differently from the grey around the right one; this one maps equal pixels at
    equal places to equal pixels."""
    left = one_object((10, 20, 70, 80), (215, 40, 40))
    right = one_object((120, 110, 180, 170), (40, 80, 215))
    (a,), (b,) = augment_images([left], 3, AUGMENT), augment_images([right], 3, AUGMENT)
    before_a, before_b = np.asarray(left), np.asarray(right)
    after_a, after_b = np.asarray(a), np.asarray(b)
    agree = (before_a == before_b).all(axis=-1)
    assert agree.mean() > 0.8 and np.array_equal(after_a[agree], after_b[agree])
    assert not np.array_equal(after_a, before_a)  # it did change the image
    (other,) = augment_images([left], 4, AUGMENT)
    assert not np.array_equal(np.asarray(other), after_a)  # another seed, another change


def test_the_change_of_each_image_depends_on_the_seed_and_its_place_in_the_batch_only():
    samples = generate_samples(6, seed=1, kinds=("shapes",))
    moved = generate_samples(6, seed=2, kinds=("shapes",))  # other scenes and boxes
    assert [s.evidence_boxes for s in samples] != [s.evidence_boxes for s in moved]
    draws = [
        draw_change(np.random.default_rng([AUGMENTATION_SEED_OFFSET + 9, i]), AUGMENT)
        for i in range(6)
    ]
    flat = Image.new("RGB", (196, 196), (120, 120, 120))
    for batch in (samples, moved):
        changed = augment_images([s.image for s in batch], 9, AUGMENT)
        for image, sample, change in zip(changed, batch, draws, strict=True):
            assert np.array_equal(np.asarray(image), np.asarray(apply_change(sample.image, change)))
    # The six images got six different changes, each a pure function of position:
    greys = [np.asarray(apply_change(flat, change)) for change in draws]
    assert len({g.tobytes() for g in greys}) == 6


def test_a_change_is_brightness_and_contrast_about_mid_grey_then_a_soft_dimming_map():
    change = PhotometricDraw(brightness=1.2, contrast=0.5, floor=0.4, blobs=((0.5, 0.5, 0.1, 0.1),))
    dimming = dimming_map(change, 196, 196)
    assert dimming.min() == pytest.approx(0.4, abs=1e-6) and dimming.max() <= 1.0
    assert dimming[98, 98] > 0.99 and dimming[0, 0] == pytest.approx(0.4, abs=1e-6)
    inverted = dimming_map(replace(change, inverted=True), 196, 196)
    assert inverted[98, 98] < 0.41 and inverted[0, 0] == pytest.approx(1.0, abs=1e-6)
    image = Image.new("RGB", (196, 196), (200, 100, 50))
    out = np.asarray(apply_change(image, change)).astype(float)
    expected_centre = [
        round(((v - 127.5) * 0.5 + 127.5) * 1.2 * dimming[98, 98]) for v in (200, 100, 50)
    ]
    assert out[98, 98].tolist() == expected_centre
    assert out[0, 0].tolist() == [
        round(((v - 127.5) * 0.5 + 127.5) * 1.2 * 0.4) for v in (200, 100, 50)
    ]


def test_draws_stay_in_their_ranges_and_about_the_chosen_share_of_images_is_changed():
    schedule = PhotometricAugmentation()
    draws = [draw_change(np.random.default_rng([5, i]), schedule) for i in range(400)]
    changed = [d for d in draws if d != PhotometricDraw()]
    assert 0.5 < len(changed) / 400 < 0.7  # probability 0.6
    assert all(0.7 <= d.brightness <= 1.3 and 0.7 <= d.contrast <= 1.3 for d in changed)
    dimmed = [d for d in changed if d.blobs]
    assert 0.45 < len(dimmed) / len(changed) < 0.75  # dimming_probability 0.6
    assert all(0.35 <= d.floor <= 0.85 and 1 <= len(d.blobs) <= 3 for d in dimmed)
    off = PhotometricAugmentation(probability=0.0)
    image = generate_samples(1, seed=0)[0].image
    assert np.array_equal(np.asarray(augment_images([image], 1, off)[0]), np.asarray(image))


def test_the_recipe_s_augmentation_reaches_the_batch_the_model_sees(demo_sized_model):
    _, processor = demo_sized_model
    samples = generate_samples(2, seed=0, kinds=("shapes",))
    images = augment_images([s.image for s in samples], 0, AUGMENT)
    plain = make_batch(processor, samples, ["short", "short"])
    augmented = make_batch(processor, samples, ["short", "short"], images)
    assert torch.equal(plain["input_ids"], augmented["input_ids"])
    assert not torch.equal(plain["pixel_values"], augmented["pixel_values"])
    assert augmentation_of(TrainRecipe()) == PhotometricAugmentation()


def test_a_few_training_steps_are_reproducible_from_the_seed_and_change_with_it(tmp_path):
    from safetensors.torch import load_file

    recipe = replace(
        TrainRecipe(), vision_steps=2, steps=3, batch_size=2, warmup_steps=1, hidden_size=64
    )
    train(recipe, tmp_path / "a", log_every=0)
    train(recipe, tmp_path / "b", log_every=0)
    train(replace(recipe, seed=1), tmp_path / "c", log_every=0)
    a, b, c = (load_file(tmp_path / name / "model.safetensors") for name in "abc")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)
