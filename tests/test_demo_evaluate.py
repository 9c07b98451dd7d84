"""The demo evaluation's sharper grounding question: does a layer look at the asked object?"""

from __future__ import annotations

import numpy as np
from PIL import Image

from vea_augment.demo.corpus import SyntheticSample
from vea_augment.demo.training.evaluate import picks_the_asked_object
from vea_augment.method.types import TokenView

ASKED, OTHER = [30.0, 2.0, 54.0, 26.0], [85.0, 58.0, 110.0, 83.0]  # cells 1 and 11 of 4x4


def grid_view(scores: dict[int, float]) -> TokenView:
    boxes = np.array(
        [[[c * 28, r * 28, c * 28 + 28, r * 28 + 28] for c in range(4)] for r in range(4)],
        dtype=np.float64,
    )
    grid = np.full(16, 0.01)
    for cell, value in scores.items():
        grid[cell] = value
    return TokenView("base", grid.reshape(4, 4), boxes)


def two_object_scene() -> SyntheticSample:
    return SyntheticSample(
        id="hand",
        image=Image.new("RGB", (112, 112)),
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


def test_the_asked_object_is_picked_when_its_token_outscores_every_other_object():
    assert picks_the_asked_object(two_object_scene(), [grid_view({1: 0.5, 11: 0.4})])


def test_a_layer_that_prefers_a_distractor_does_not_pick_the_asked_object():
    assert not picks_the_asked_object(two_object_scene(), [grid_view({1: 0.4, 11: 0.5})])


def test_background_tokens_do_not_count_as_distractors():
    assert picks_the_asked_object(two_object_scene(), [grid_view({0: 0.9, 1: 0.5, 11: 0.4})])
