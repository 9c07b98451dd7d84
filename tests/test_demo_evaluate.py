"""The demo evaluation's sharper grounding question: does a layer look at the asked object?"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vea_augment.demo.corpus import SyntheticSample
from vea_augment.demo.training.evaluate import picks_the_asked_object
from vea_augment.method.types import TokenView

# On the corpus's 7 x 7 grid of 28-px tokens: the asked object covers tokens 1, 2, 8, 9 and
# the other object tokens 32, 33, 39, 40 (rows 4-5, columns 4-5).
ASKED, OTHER = [30.0, 2.0, 80.0, 52.0], [114.0, 114.0, 166.0, 166.0]


def grid_view(scores: dict[int, float]) -> TokenView:
    boxes = np.array(
        [[[c * 28, r * 28, c * 28 + 28, r * 28 + 28] for c in range(7)] for r in range(7)],
        dtype=np.float64,
    )
    grid = np.full(49, 0.01)
    for token, value in scores.items():
        grid[token] = value
    return TokenView("base", grid.reshape(7, 7), boxes)


def two_object_scene() -> SyntheticSample:
    return SyntheticSample(
        id="hand",
        image=Image.new("RGB", (196, 196)),
        question="what colour is the circle?",
        answers=["blue"],
        evidence_boxes=[ASKED],
        dataset="hand",
        kind="shapes",
        objects=[
            {"shape": "circle", "colour": "blue", "box": ASKED},
            {"shape": "square", "colour": "red", "box": OTHER},
        ],
    )


def test_the_asked_object_is_picked_when_its_best_token_outscores_every_other_object_token():
    assert picks_the_asked_object(two_object_scene(), [grid_view({2: 0.5, 32: 0.3, 40: 0.4})])


def test_a_layer_that_prefers_a_distractor_does_not_pick_the_asked_object():
    view = grid_view({1: 0.4, 2: 0.4, 8: 0.4, 9: 0.4, 40: 0.5})
    assert not picks_the_asked_object(two_object_scene(), [view])


def test_background_tokens_do_not_count_as_distractors():
    assert picks_the_asked_object(two_object_scene(), [grid_view({0: 0.9, 9: 0.5, 33: 0.4})])


def test_the_guess_baselines_score_a_random_object_and_the_commonest_value():
    from vea_augment.demo.training.evaluate import guess_baselines

    lured = two_object_scene()
    lured.objects[1]["colour"] = "blue"  # both blue: any guess is right
    scenes = [two_object_scene(), lured]
    assert guess_baselines(scenes) == {"any_object": 0.75, "commonest_value": 0.75}
    # (the first scene: blue and red, one right of two, a tie split evenly: 0.5 and 0.5)


def test_on_the_default_corpus_the_lure_makes_the_commonest_value_the_answer():
    """The shortcut the training record reports beside the model's EM."""
    from vea_augment.demo.corpus import generate_samples
    from vea_augment.demo.training.evaluate import guess_baselines

    baselines = guess_baselines(generate_samples(40, 1))
    assert baselines["commonest_value"] == 1.0
    assert baselines["any_object"] == pytest.approx(0.75)
