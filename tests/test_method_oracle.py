"""The oracle mask and highlight: Eq. 4 from ground-truth boxes, pixel by pixel.

The rule: pixel (x, y) is the unit square [x, x+1] x [y, y+1]; it is evidence when at least
half of it lies inside the union of the boxes (labels.py's "half" rule, which mask_auroc
scores masks against); for integer boxes, exactly x0 <= x < x1 and y0 <= y < y1.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from method_helpers import PROPERTY, grid_boxes

from vea_augment.errors import GeometryError
from vea_augment.method import covered_fraction, highlight_image, oracle_highlight, oracle_mask
from vea_augment.method.mask_quality import mask_auroc


def quarter_boxes(max_size: int = 12) -> st.SearchStrategy[list[list[float]]]:
    """Boxes on a quarter-pixel lattice (exact in float64), some reaching past the image."""
    coordinate = st.integers(-8, 4 * (max_size + 2)).map(lambda q: q / 4)

    def ordered(corners: tuple[float, float, float, float]) -> list[float]:
        a, b, c, d = corners
        return [min(a, c), min(b, d), max(a, c), max(b, d)]

    box = st.tuples(coordinate, coordinate, coordinate, coordinate).map(ordered)
    return st.lists(box, min_size=0, max_size=4)


def integer_boxes(max_size: int = 12) -> st.SearchStrategy[list[list[int]]]:
    coordinate = st.integers(-3, max_size + 3)

    def ordered(corners: tuple[int, int, int, int]) -> list[int]:
        a, b, c, d = corners
        return [min(a, c), min(b, d), max(a, c), max(b, d)]

    return st.lists(st.tuples(*[coordinate] * 4).map(ordered), min_size=0, max_size=4)


sizes = st.integers(1, 12)


def test_an_integer_box_covers_x0_to_x1_exclusive():
    mask = oracle_mask([[1, 0, 3, 2]], width=4, height=3)
    assert mask.dtype == np.float32
    assert mask.tolist() == [[0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]


def test_a_pixel_half_inside_is_evidence_and_a_quarter_inside_is_not():
    # Pixel (0, 0) is a quarter inside; (1, 0) and (0, 1) are half inside; (1, 1) fully.
    mask = oracle_mask([[0.5, 0.5, 2, 2]], width=3, height=3)
    assert mask.tolist() == [[0, 1, 0], [1, 1, 0], [0, 0, 0]]


def test_boxes_past_the_edge_are_clipped_to_the_image():
    mask = oracle_mask([[-5, -5, 2, 1], [2.5, 1, 99, 99]], width=3, height=2)
    assert mask.tolist() == [[1, 1, 0], [0, 0, 1]]


def test_overlapping_boxes_count_their_union_once():
    # Two identical quarter-pixel boxes still cover a quarter: not evidence.
    assert oracle_mask([[0, 0, 0.25, 1], [0, 0, 0.25, 1]], 2, 1).tolist() == [[0, 0]]
    # Two halves of pixel 0 together cover it whole.
    assert oracle_mask([[0, 0, 0.5, 1], [0.5, 0, 1, 1]], 2, 1).tolist() == [[1, 0]]


def test_no_box_or_a_box_outside_gives_an_all_zero_mask():
    assert oracle_mask([], 3, 2).tolist() == [[0, 0, 0], [0, 0, 0]]
    assert oracle_mask([[5, 5, 9, 9]], 3, 2).tolist() == [[0, 0, 0], [0, 0, 0]]
    assert oracle_mask([[1, 0, 1, 2]], 3, 2).tolist() == [[0, 0, 0], [0, 0, 0]]


def test_bad_boxes_and_sizes_are_refused():
    with pytest.raises(GeometryError, match="x1 < x0"):
        oracle_mask([[3, 0, 1, 2]], 4, 4)
    with pytest.raises(GeometryError, match="finite"):
        oracle_mask([[0, 0, float("nan"), 2]], 4, 4)
    with pytest.raises(GeometryError, match=r"shape \(\.\.\., 4\)"):
        oracle_mask([[0, 0, 2]], 4, 4)
    with pytest.raises(GeometryError, match="positive"):
        oracle_mask([[0, 0, 1, 1]], 0, 4)


def test_the_oracle_highlight_keeps_the_box_and_halves_the_rest_at_alpha_half():
    image = np.array([[[10, 20, 30], [41, 51, 61]], [[200, 100, 0], [255, 3, 5]]], np.uint8)
    out = oracle_highlight(image, [[1, 0, 2, 1]], alpha=0.5)
    # rint is half-to-even: 20 * 0.5 = 10, 255 * 0.5 = 127.5 -> 128, 3 * 0.5 = 1.5 -> 2.
    assert out.tolist() == [
        [[5, 10, 15], [41, 51, 61]],
        [[100, 50, 0], [128, 2, 2]],
    ]


@PROPERTY
@given(boxes=quarter_boxes(), width=sizes, height=sizes)
def test_a_pixel_is_evidence_exactly_when_half_its_area_is_in_the_union(boxes, width, height):
    pixels = grid_boxes(width, height, height, width)
    expected = covered_fraction(pixels, np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
    mask = oracle_mask(boxes, width, height)
    assert mask.shape == (height, width)
    np.testing.assert_array_equal(mask, (expected >= 0.5).astype(np.float32))


@PROPERTY
@given(boxes=integer_boxes(), width=sizes, height=sizes)
def test_integer_boxes_paint_their_slices(boxes, width, height):
    expected = np.zeros((height, width), dtype=np.float32)
    for x0, y0, x1, y1 in boxes:
        expected[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = 1.0
    np.testing.assert_array_equal(oracle_mask(boxes, width, height), expected)


@PROPERTY
@given(
    boxes=quarter_boxes(),
    width=sizes,
    height=sizes,
    alpha=st.sampled_from([0.0, 0.25, 0.5, 0.8, 1.0]),
    seed=st.integers(0, 2**16),
)
def test_the_highlight_is_eq4_of_the_oracle_mask(boxes, width, height, alpha, seed):
    image = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    mask = oracle_mask(boxes, width, height)
    out = oracle_highlight(image, boxes, alpha)
    np.testing.assert_array_equal(out, highlight_image(image, mask, alpha))
    inside = mask == 1.0
    np.testing.assert_array_equal(out[inside], image[inside])
    dimmed = np.rint(image[~inside].astype(np.float64) * alpha).astype(np.uint8)
    np.testing.assert_array_equal(out[~inside], dimmed)


@PROPERTY
@given(boxes=integer_boxes(max_size=20), width=st.integers(2, 20), height=st.integers(2, 20))
def test_mask_auroc_scores_the_oracle_mask_perfectly(boxes, width, height):
    mask = oracle_mask(boxes, width, height)
    value = mask_auroc(mask, boxes)
    if 0.0 < mask.mean() < 1.0:
        assert value == 1.0
    else:
        assert np.isnan(value)


def test_a_large_page_is_masked_in_row_chunks_without_seams():
    mask = oracle_mask([[100, 300, 900, 1700]], width=1000, height=2000)
    assert mask.sum() == 800 * 1400
    assert mask[300:1700, 100:900].all() and mask[299].sum() == 0 and mask[1700].sum() == 0
