"""The demo model's training script: cell labels, the vision stage, answer-only labels, a run."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch
from PIL import Image

from vea_augment.demo.corpus import COLOURS, SHAPES, CorpusConfig, SyntheticSample, generate_samples
from vea_augment.demo.training.grounding import answering_positions, grounding_loss
from vea_augment.demo.training.recipe import TrainRecipe
from vea_augment.demo.training.train import _override, make_batch, train
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
        image=Image.new("RGB", (112, 112)),
        question="what colour is the circle?",
        answers=["red"],
        evidence_boxes=[],
        dataset="hand",
        kind="shapes",
        objects=objects,
    )


def test_cell_labels_name_each_object_in_its_cell_row_major_and_every_other_cell_empty():
    hand = scene(
        [
            {"shape": "circle", "colour": "blue", "box": [30.0, 2.0, 54.0, 26.0]},  # row 0, col 1
            {"shape": "diamond", "colour": "red", "box": [85.0, 58.0, 110.0, 83.0]},  # row 2, col 3
        ]
    )
    shapes, colours = cell_labels([hand, scene([])], CorpusConfig())
    expected_shapes = torch.full((32,), EMPTY_SHAPE)
    expected_shapes[1], expected_shapes[11] = SHAPES.index("circle"), SHAPES.index("diamond")
    expected_colours = torch.full((32,), EMPTY_COLOUR)
    expected_colours[1], expected_colours[11] = list(COLOURS).index("blue"), 0
    assert torch.equal(shapes, expected_shapes) and torch.equal(colours, expected_colours)


def test_generated_objects_always_lie_in_the_cell_their_label_names():
    config = CorpusConfig()
    samples = generate_samples(20, seed=5, kinds=("shapes",))
    shapes, _ = cell_labels(samples, config)
    assert int((shapes != EMPTY_SHAPE).sum()) == 20 * config.objects
    for index, sample in enumerate(samples):
        for item in sample.objects:
            x0, y0, x1, y1 = item["box"]
            cell = int(y0 // config.cell) * config.grid + int(x0 // config.cell)
            assert cell == int((y1 - 1) // config.cell) * config.grid + int((x1 - 1) // config.cell)
            assert shapes[index * 16 + cell] == SHAPES.index(item["shape"])


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
    loss = grounding_loss(
        [attention], input_ids, image_id, torch.tensor([1]), [0], torch.tensor([5])
    )
    assert loss.item() == pytest.approx(-math.log(0.4 / 0.7 + 1e-6), rel=1e-6)


def test_the_grounding_loss_averages_layers_and_vanishes_when_image_attention_is_all_on_evidence():
    input_ids = torch.tensor([[9, 9, 1], [9, 9, 1]])
    focused = torch.zeros(2, 1, 3, 3)
    focused[:, 0, -1] = torch.tensor([[0.0, 0.6, 0.4], [0.5, 0.0, 0.5]])
    spread = torch.zeros(2, 1, 3, 3)
    spread[:, 0, -1] = torch.tensor([[0.25, 0.25, 0.5], [0.25, 0.25, 0.5]])
    evidence, last = torch.tensor([1, 0]), torch.tensor([2, 2])
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
