"""Eq. 3's painting step: token scores onto a pixel canvas in original-image space."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from method_helpers import PROPERTY, grid_boxes

from vea_augment.errors import ConfigError, GeometryError, InvalidScoresError
from vea_augment.method import TokenView, canvas_shape, paint_views
from vea_augment.method.paint import paint_runs
from vea_augment.method.resample import resize_area


def single(box: list[float], score: float, name: str = "v") -> TokenView:
    return TokenView(name, np.array([[score]]), np.array([[box]], dtype=np.float64))


def test_grid_tiling_the_image_reproduces_its_scores_block_wise() -> None:
    scores = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    view = TokenView("grid", scores, grid_boxes(6, 4, 2, 3))
    canvas = paint_views([view], width=6, height=4)
    assert canvas.shape == (4, 6)
    assert canvas.dtype == np.float32
    np.testing.assert_array_equal(canvas, np.kron(scores, np.ones((2, 2))))


def test_overlapping_views_give_the_coverage_weighted_mean() -> None:
    whole = single([0, 0, 4, 4], 1.0, "thumbnail")
    right = single([1.5, 0, 4, 4], 3.0, "tile")
    canvas = paint_views([whole, right], width=4, height=4)
    # Column 0: thumbnail only. Column 1: tile covers half of each pixel:
    # (1 * 1 + 3 * 0.5) / 1.5. Columns 2-3: both fully, (1 + 3) / 2.
    expected_row = np.array([1.0, 5.0 / 3.0, 2.0, 2.0], dtype=np.float32)
    np.testing.assert_allclose(canvas, np.tile(expected_row, (4, 1)), rtol=1e-6)


def test_uncovered_pixels_are_zero() -> None:
    canvas = paint_views([single([0, 0, 2, 2], 7.0)], width=4, height=4)
    expected = np.zeros((4, 4))
    expected[:2, :2] = 7.0
    np.testing.assert_array_equal(canvas, expected)


def test_fractional_box_edge_gives_its_fractional_weight() -> None:
    views = [
        single([0.0, 0.0, 0.25, 1.0], 0.0, "a"),
        single([0.25, 0.0, 1.0, 1.0], 4.0, "b"),
    ]
    # 0 * 0.25 + 4 * 0.75 over a full coverage of 1.
    assert paint_views(views, width=1, height=1)[0, 0] == pytest.approx(3.0)


def test_fractional_edges_in_both_axes_weight_by_area() -> None:
    views = [
        single([0.0, 0.0, 0.25, 0.5], 8.0, "a"),
        single([0.25, 0.0, 1.0, 0.5], 0.0, "b"),
        single([0.0, 0.5, 0.25, 1.0], 0.0, "c"),
        single([0.25, 0.5, 1.0, 1.0], 0.0, "d"),
    ]
    # Token a covers 0.25 x 0.5 = 0.125 of the pixel.
    assert paint_views(views, width=1, height=1)[0, 0] == pytest.approx(1.0)


def test_box_parts_outside_the_image_are_ignored() -> None:
    canvas = paint_views([single([-2, -1, 2, 2], 5.0)], width=4, height=4)
    expected = np.zeros((4, 4))
    expected[:2, :2] = 5.0
    np.testing.assert_array_equal(canvas, expected)


def test_scale_half_paints_a_half_size_canvas_with_scaled_boxes() -> None:
    scores = np.array([[1.0, 2.0], [3.0, 5.0]])
    view = TokenView("grid", scores, grid_boxes(8, 6, 2, 2))
    canvas = paint_views([view], width=8, height=6, scale=0.5)
    assert canvas.shape == (3, 4)
    # Token rows end at y = 1.5 on the half-size canvas, so canvas row 1 is half of each.
    expected = np.array(
        [[1.0, 1.0, 2.0, 2.0], [2.0, 2.0, 3.5, 3.5], [3.0, 3.0, 5.0, 5.0]], dtype=np.float32
    )
    np.testing.assert_allclose(canvas, expected, rtol=1e-6)


def test_painting_at_a_scale_equals_area_averaging_the_full_resolution_canvas() -> None:
    rng = np.random.default_rng(3)
    view = TokenView("grid", rng.random((7, 9)), grid_boxes(90, 70, 7, 9))
    full = paint_views([view], 90, 70)
    rows, cols = canvas_shape(90, 70, 0.3)
    np.testing.assert_allclose(
        paint_views([view], 90, 70, scale=0.3), resize_area(full, rows, cols), atol=1e-5
    )


@PROPERTY
@given(
    width=st.integers(1, 90),
    height=st.integers(1, 90),
    # Eighths of a pixel: fractional edges, but no area below float32's (paint_views's) reach.
    boxes=st.lists(st.tuples(*[st.integers(-80, 800)] * 4), min_size=1, max_size=12),
    seed=st.integers(0, 2**16),
)
def test_pixel_runs_spread_over_their_pixels_are_the_painted_canvas(
    width: int, height: int, boxes: list[tuple[float, ...]], seed: int
) -> None:
    ordered = (
        np.array([[min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)] for x0, y0, x1, y1 in boxes])
        / 8.0
    )
    scores = np.random.default_rng(seed).random(len(boxes))
    views = [TokenView("a", scores[:, None], ordered[:, None, :])]
    xs, ys, runs = paint_runs(views, width, height)
    assert xs[0] == 0 and xs[-1] == width and ys[0] == 0 and ys[-1] == height
    spread = np.repeat(np.repeat(runs, np.diff(ys).astype(int), 0), np.diff(xs).astype(int), 1)
    np.testing.assert_allclose(spread, paint_views(views, width, height), atol=1e-6)


def test_canvas_shape_rounds_each_side_and_keeps_at_least_one_pixel() -> None:
    assert canvas_shape(4000, 3000) == (3000, 4000)
    assert canvas_shape(4000, 3000, 0.01) == (30, 40)
    assert canvas_shape(10, 10, 0.001) == (1, 1)


def test_nan_scores_raise_invalid_scores_naming_the_view() -> None:
    view = TokenView("tile-2", np.array([[np.nan]]), np.array([[[0, 0, 1, 1]]], dtype=float))
    with pytest.raises(InvalidScoresError, match="tile-2"):
        paint_views([view], 2, 2)


def test_inf_scores_raise_invalid_scores() -> None:
    with pytest.raises(InvalidScoresError):
        paint_views([single([0, 0, 1, 1], np.inf)], 2, 2)


def test_grid_that_does_not_match_its_boxes_raises_geometry_error_naming_the_view() -> None:
    view = TokenView("thumb", np.ones((2, 3)), grid_boxes(6, 4, 3, 2))
    with pytest.raises(GeometryError, match="thumb"):
        paint_views([view], 6, 4)


def test_inverted_box_raises_geometry_error() -> None:
    with pytest.raises(GeometryError):
        paint_views([single([3, 0, 1, 2], 1.0)], 4, 4)


@pytest.mark.parametrize("size", [(0, 4), (4, -1)])
def test_non_positive_image_size_raises_geometry_error(size: tuple[int, int]) -> None:
    with pytest.raises(GeometryError):
        paint_views([single([0, 0, 1, 1], 1.0)], *size)


@pytest.mark.parametrize("scale", [0.0, -0.5, np.nan])
def test_non_positive_scale_raises_config_error(scale: float) -> None:
    with pytest.raises(ConfigError):
        paint_views([single([0, 0, 1, 1], 1.0)], 4, 4, scale=scale)


@PROPERTY
@given(
    rows=st.integers(1, 6),
    cols=st.integers(1, 6),
    width=st.integers(1, 40),
    height=st.integers(1, 40),
    seed=st.integers(0, 2**16),
)
def test_a_tiling_grid_conserves_score_times_area(
    rows: int, cols: int, width: int, height: int, seed: int
) -> None:
    scores = np.random.default_rng(seed).random((rows, cols))
    canvas = paint_views(
        [TokenView("g", scores, grid_boxes(width, height, rows, cols))], width, height
    )
    token_area = (width / cols) * (height / rows)
    assert canvas.sum() == pytest.approx(scores.sum() * token_area, rel=1e-4)
    assert canvas.min() >= scores.min() - 1e-6
    assert canvas.max() <= scores.max() + 1e-6


@PROPERTY
@given(
    boxes=st.lists(
        st.tuples(st.floats(-5, 25), st.floats(-5, 25), st.floats(0, 10), st.floats(0, 10)),
        min_size=1,
        max_size=6,
    ),
    seed=st.integers(0, 2**16),
)
def test_painted_pixels_lie_between_the_scores_covering_them_or_are_zero(
    boxes: list[tuple[float, float, float, float]], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    views = [
        single([x, y, x + w, y + h], float(rng.uniform(1, 2)), f"v{i}")
        for i, (x, y, w, h) in enumerate(boxes)
    ]
    canvas = paint_views(views, 20, 20)
    painted = canvas[canvas != 0]
    assert np.all(painted >= 1.0 - 1e-5)
    assert np.all(painted <= 2.0 + 1e-5)
