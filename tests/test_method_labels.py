"""Patch labels from evidence boxes, and clipping evidence boxes to the image."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from method_helpers import PROPERTY, grid_boxes

from vea_augment.errors import ConfigError, GeometryError
from vea_augment.method import (
    TokenView,
    clip_boxes,
    covered_fraction,
    evidence_labels,
    paint_views,
)
from vea_augment.method.layer_profile import view_labels

# A 4x4 grid of 10 px tokens; the evidence box covers token (0, 1) fully, (0, 0) by 50 %,
# (1, 0) by 15 % (5 px x 3 px) and (1, 1) by 30 % (10 px x 3 px).
TOKENS_4X4 = grid_boxes(40, 40, 4, 4).reshape(-1, 4)
EVIDENCE = np.array([[5.0, 0.0, 20.0, 13.0]])


def as_grid(flat: np.ndarray) -> np.ndarray:
    return np.asarray(flat).reshape(4, 4)


def test_covered_fraction_on_a_token_grid_is_exact() -> None:
    expected = np.zeros((4, 4))
    expected[0, :2] = [0.5, 1.0]
    expected[1, :2] = [0.15, 0.3]
    np.testing.assert_allclose(as_grid(covered_fraction(TOKENS_4X4, EVIDENCE)), expected)


def test_rule_any_labels_every_touched_token() -> None:
    expected = np.zeros((4, 4), dtype=bool)
    expected[:2, :2] = True
    np.testing.assert_array_equal(as_grid(evidence_labels(TOKENS_4X4, EVIDENCE, "any")), expected)


def test_rule_half_labels_tokens_at_least_half_covered() -> None:
    expected = np.zeros((4, 4), dtype=bool)
    expected[0, :2] = True
    np.testing.assert_array_equal(as_grid(evidence_labels(TOKENS_4X4, EVIDENCE, "half")), expected)


def test_rule_all_labels_only_fully_covered_tokens() -> None:
    expected = np.zeros((4, 4), dtype=bool)
    expected[0, 1] = True
    np.testing.assert_array_equal(as_grid(evidence_labels(TOKENS_4X4, EVIDENCE, "all")), expected)


def test_default_rule_is_any() -> None:
    np.testing.assert_array_equal(
        evidence_labels(TOKENS_4X4, EVIDENCE), evidence_labels(TOKENS_4X4, EVIDENCE, "any")
    )


def test_overlapping_evidence_boxes_are_not_double_counted() -> None:
    token = np.array([[0.0, 0.0, 10.0, 10.0]])
    # 30 % + 30 %, but their union [0, 4] x [0, 10] is 40 %.
    evidence = np.array([[0.0, 0.0, 3.0, 10.0], [1.0, 0.0, 4.0, 10.0]])
    assert covered_fraction(token, evidence)[0] == pytest.approx(0.4)
    assert not evidence_labels(token, evidence, "half")[0]
    assert evidence_labels(token, evidence, "any")[0]


def test_duplicate_evidence_boxes_count_once() -> None:
    token = np.array([[0.0, 0.0, 10.0, 10.0]])
    box = [0.0, 0.0, 10.0, 6.0]
    assert covered_fraction(token, np.array([box, box, box]))[0] == pytest.approx(0.6)


def test_no_evidence_boxes_labels_everything_false() -> None:
    labels = evidence_labels(TOKENS_4X4, np.zeros((0, 4)), "any")
    assert labels.shape == (16,)
    assert not labels.any()


def test_zero_area_tokens_are_false() -> None:
    tokens = np.array([[5.0, 5.0, 5.0, 8.0], [5.0, 5.0, 6.0, 6.0]])
    evidence = np.array([[0.0, 0.0, 10.0, 10.0]])
    np.testing.assert_array_equal(evidence_labels(tokens, evidence, "any"), [False, True])


def test_token_grid_shape_is_kept() -> None:
    labels = evidence_labels(grid_boxes(40, 40, 4, 4), EVIDENCE, "all")
    assert labels.shape == (4, 4)
    assert labels.dtype == np.bool_


def test_unknown_rule_raises_config_error() -> None:
    with pytest.raises(ConfigError):
        evidence_labels(TOKENS_4X4, EVIDENCE, "most")  # type: ignore[arg-type]


def test_inverted_evidence_box_raises_geometry_error() -> None:
    with pytest.raises(GeometryError):
        evidence_labels(TOKENS_4X4, np.array([[20.0, 0.0, 5.0, 13.0]]))


def test_labels_painted_as_scores_cover_the_evidence_box() -> None:
    width, height = 80, 60
    boxes = grid_boxes(width, height, 6, 8)
    evidence = np.array([[23.0, 17.0, 51.0, 38.0]])
    labels = evidence_labels(boxes, evidence, "any")
    mask = paint_views([TokenView("grid", labels.astype(np.float64), boxes)], width, height)
    assert np.all(mask[17:38, 23:51] == 1.0)
    # Nothing outside the tokens that touch the box: columns 20-60, rows 10-40.
    outside = np.ones_like(mask, dtype=bool)
    outside[10:40, 20:60] = False
    assert np.all(mask[outside] == 0.0)


# LLaVA's pad-to-square view of a 40 x 20 image: a 4 x 4 grid of 10 px tokens over the
# 40 x 40 square, shifted up by the 10 px pad band: row 0 and row 3 lie over padding only.
PADDED_TOKENS = grid_boxes(40, 40, 4, 4) - np.array([0.0, 10.0, 0.0, 10.0])
#: A loose evidence box that reaches 8 px past the image's top and bottom edges.
LOOSE_EVIDENCE = np.array([[0.0, -8.0, 20.0, 28.0]])


@pytest.mark.parametrize("rule", ["any", "half", "all"])
def test_a_token_over_padding_alone_is_never_evidence(rule) -> None:
    labels = evidence_labels(PADDED_TOKENS, LOOSE_EVIDENCE, rule, image_size=(40, 20))
    assert not labels[0].any() and not labels[3].any(), "pad rows cover no image pixel"
    np.testing.assert_array_equal(labels[1:3], [[True, True, False, False]] * 2)
    unclipped = evidence_labels(PADDED_TOKENS, LOOSE_EVIDENCE, "any")
    assert unclipped[0, :2].all(), "without the image size the pad rows would be evidence"


def test_a_token_partly_over_padding_is_measured_by_its_image_part() -> None:
    tokens = np.array([[0.0, -5.0, 10.0, 5.0]])  # half over the pad band above the image
    evidence = np.array([[0.0, 0.0, 10.0, 5.0]])  # all of its image part
    assert covered_fraction(tokens, evidence)[0] == pytest.approx(0.5)
    assert covered_fraction(tokens, evidence, image_size=(40, 20))[0] == pytest.approx(1.0)
    assert evidence_labels(tokens, evidence, "all", image_size=(40, 20))[0]


def test_view_labels_count_image_pixels_only_with_the_views_image_size() -> None:
    view = TokenView("image", np.zeros((4, 4)), PADDED_TOKENS, image_size=(40, 20))
    labels = view_labels([view], LOOSE_EVIDENCE).reshape(4, 4)
    assert not labels[0].any() and not labels[3].any()
    assert labels[1:3, :2].all()
    bare = TokenView("image", np.zeros((4, 4)), PADDED_TOKENS)
    np.testing.assert_array_equal(
        view_labels([bare], LOOSE_EVIDENCE, image_size=(40, 20)), labels.ravel()
    )


def test_a_non_positive_image_size_raises_geometry_error() -> None:
    with pytest.raises(GeometryError, match="image size"):
        evidence_labels(TOKENS_4X4, EVIDENCE, image_size=(0, 20))


def test_boxes_partly_outside_the_image_are_clipped_and_counted() -> None:
    boxes = np.array(
        [
            [5.0, 5.0, 10.0, 10.0],  # inside: kept as is
            [-10.0, 5.0, 50.0, 20.0],  # sticks out left and right: clipped
            [35.0, 25.0, 45.0, 35.0],  # corner outside: clipped
            [50.0, 0.0, 60.0, 10.0],  # wholly outside: dropped
            [3.0, 3.0, 3.0, 9.0],  # zero area: dropped
        ]
    )
    clipped, n_clipped, n_dropped = clip_boxes(boxes, width=40, height=30)
    np.testing.assert_array_equal(clipped, [[5, 5, 10, 10], [0, 5, 40, 20], [35, 25, 40, 30]])
    assert (n_clipped, n_dropped) == (2, 2)


def test_clipping_an_inverted_box_raises_geometry_error() -> None:
    with pytest.raises(GeometryError):
        clip_boxes(np.array([[10.0, 0.0, 5.0, 5.0]]), 40, 30)
    with pytest.raises(GeometryError):
        clip_boxes(np.array([[0.0, 9.0, 5.0, 5.0]]), 40, 30)


def test_clipping_boxes_of_the_wrong_shape_raises_geometry_error() -> None:
    with pytest.raises(GeometryError):
        clip_boxes(np.array([[0.0, 0.0, 5.0]]), 40, 30)


integer_boxes = st.lists(
    st.tuples(st.integers(0, 12), st.integers(0, 12), st.integers(0, 6), st.integers(0, 6)).map(
        lambda t: (t[0], t[1], t[0] + t[2], t[1] + t[3])
    ),
    min_size=0,
    max_size=5,
)


def raster_fraction(token: tuple[int, ...], evidence: list[tuple[int, ...]]) -> float:
    """Brute force on unit cells: exact for integer coordinates."""
    union = np.zeros((20, 20), dtype=bool)
    for x0, y0, x1, y1 in evidence:
        union[y0:y1, x0:x1] = True
    x0, y0, x1, y1 = token
    area = (x1 - x0) * (y1 - y0)
    return float(union[y0:y1, x0:x1].sum()) / area if area else 0.0


@PROPERTY
@given(tokens=integer_boxes.filter(len), evidence=integer_boxes)
def test_covered_fraction_equals_a_pixel_count_of_the_union(
    tokens: list[tuple[int, ...]], evidence: list[tuple[int, ...]]
) -> None:
    fraction = covered_fraction(
        np.array(tokens, dtype=float), np.array(evidence, dtype=float).reshape(-1, 4)
    )
    expected = [raster_fraction(t, evidence) for t in tokens]
    np.testing.assert_allclose(fraction, expected, atol=1e-12)


@PROPERTY
@given(tokens=integer_boxes.filter(len), evidence=integer_boxes, width=st.integers(1, 12))
def test_with_the_image_size_tokens_outside_the_image_are_never_evidence(
    tokens: list[tuple[int, ...]], evidence: list[tuple[int, ...]], width: int
) -> None:
    """Every rule, any evidence: a token with no area inside a ``width x 6`` image is False,
    and one inside it is labelled as without the image size."""
    t = np.array(tokens, dtype=float)
    e = np.array(evidence, dtype=float).reshape(-1, 4)
    outside = (t[:, 0] >= width) | (t[:, 1] >= 6)
    inside = (t[:, 2] <= width) & (t[:, 3] <= 6)
    for rule in ("any", "half", "all"):
        labels = evidence_labels(t, e, rule, image_size=(width, 6))
        assert not labels[outside].any()
        np.testing.assert_array_equal(labels[inside], evidence_labels(t, e, rule)[inside])


@PROPERTY
@given(tokens=integer_boxes.filter(len), evidence=integer_boxes)
def test_all_implies_half_implies_any(
    tokens: list[tuple[int, ...]], evidence: list[tuple[int, ...]]
) -> None:
    t = np.array(tokens, dtype=float)
    e = np.array(evidence, dtype=float).reshape(-1, 4)
    every, half, some = (evidence_labels(t, e, rule) for rule in ("all", "half", "any"))
    assert np.all(~every | half)
    assert np.all(~half | some)
