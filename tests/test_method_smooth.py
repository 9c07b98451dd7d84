"""Eq. 3's sigma convention and Gaussian smoothing, and step 5's min-max normalisation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from method_helpers import ONE_GREY_LEVEL, PROPERTY

from vea_augment.errors import ConfigError, InvalidScoresError
from vea_augment.method import (
    gaussian_smooth,
    min_max_normalize,
    sigma_in_pixels,
    working_scale,
)
from vea_augment.method.smooth import MAX_WORK_SIDE, MIN_WORK_SIGMA, resize_area
from vea_augment.testing.reference import reference_gaussian_smooth


def test_sigma_half_is_half_the_shorter_side() -> None:
    assert sigma_in_pixels(0.5, 400, 300) == 150.0
    assert sigma_in_pixels(0.5, 300, 400) == 150.0


def test_sigma_above_one_is_pixels() -> None:
    assert sigma_in_pixels(3, 400, 300) == 3.0
    assert sigma_in_pixels(1.5, 400, 300) == 1.5


def test_sigma_one_is_the_whole_shorter_side() -> None:
    assert sigma_in_pixels(1.0, 400, 300) == 300.0


def test_sigma_zero_disables_smoothing() -> None:
    assert sigma_in_pixels(0, 400, 300) == 0.0


@pytest.mark.parametrize("sigma", [-0.1, -3.0, np.nan, np.inf])
def test_negative_or_non_finite_sigma_raises_config_error(sigma: float) -> None:
    with pytest.raises(ConfigError):
        sigma_in_pixels(sigma, 400, 300)


def test_negative_pixel_sigma_raises_config_error_in_the_blur() -> None:
    with pytest.raises(ConfigError):
        gaussian_smooth(np.zeros((4, 4)), -1.0)


def test_constant_map_normalises_to_zeros() -> None:
    out = min_max_normalize(np.full((3, 4), 7.25))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.zeros((3, 4)))


def test_map_with_only_rounding_noise_normalises_to_zeros() -> None:
    noisy = np.full((8, 8), 0.3) + np.linspace(0, 1e-9, 64).reshape(8, 8)
    np.testing.assert_array_equal(min_max_normalize(noisy), np.zeros((8, 8)))


def test_min_max_normalise_maps_min_to_zero_and_max_to_one_linearly() -> None:
    out = min_max_normalize(np.array([[-2.0, 0.0], [2.0, 6.0]]))
    np.testing.assert_array_equal(out, np.array([[0.0, 0.25], [0.5, 1.0]], dtype=np.float32))


def test_normalise_rejects_nan() -> None:
    with pytest.raises(InvalidScoresError):
        min_max_normalize(np.array([0.0, np.nan]))


@PROPERTY
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 12), st.integers(1, 12)),
        elements=st.floats(-1e6, 1e6, allow_nan=False),
    )
)
def test_normalised_map_lies_in_unit_interval(x: np.ndarray) -> None:
    out = min_max_normalize(x)
    assert out.shape == x.shape
    assert out.dtype == np.float32
    assert out.min() >= 0.0
    assert out.max() <= 1.0
    if out.max() > 0:
        assert out.min() == 0.0
        assert out.max() == 1.0


def test_sigma_zero_blur_returns_an_equal_copy() -> None:
    canvas = np.arange(12, dtype=np.float64).reshape(3, 4)
    out = gaussian_smooth(canvas, 0.0)
    np.testing.assert_array_equal(out, canvas)
    assert out.dtype == np.float32


def test_small_sigma_runs_at_full_resolution_and_equals_the_reference() -> None:
    rng = np.random.default_rng(1)
    canvas = rng.random((300, 400))
    assert working_scale(400, 300, 3.0) == 1.0
    np.testing.assert_allclose(
        gaussian_smooth(canvas, 3.0), reference_gaussian_smooth(canvas, 3.0), atol=1e-6
    )


def test_large_sigma_runs_at_a_reduced_working_resolution() -> None:
    scale = working_scale(4000, 3000, 1500.0)
    assert scale < 0.02
    assert max(4000, 3000) * scale <= MAX_WORK_SIDE
    assert 1500.0 * scale >= MIN_WORK_SIGMA


def test_working_canvas_is_capped_but_keeps_sigma_resolved() -> None:
    scale = working_scale(8000, 6000, 40.0)
    assert 40.0 * scale == pytest.approx(MIN_WORK_SIGMA)


def token_canvas(rows: int, cols: int, grid: tuple[int, int], seed: int) -> np.ndarray:
    """A blocky canvas like a painted token grid, with a few bright evidence tokens."""
    rng = np.random.default_rng(seed)
    scores = rng.random(grid) ** 6
    ys = np.minimum(np.arange(rows) * grid[0] // rows, grid[0] - 1)
    xs = np.minimum(np.arange(cols) * grid[1] // cols, grid[1] - 1)
    return scores[np.ix_(ys, xs)]


@pytest.mark.parametrize("sigma_px", [150.0, 60.0, 30.0, 15.0, 3.0])
def test_fast_blur_matches_full_resolution_reference_within_one_grey_level(
    sigma_px: float,
) -> None:
    canvas = token_canvas(300, 400, (14, 14), seed=int(sigma_px))
    fast = min_max_normalize(gaussian_smooth(canvas, sigma_px))
    reference = min_max_normalize(reference_gaussian_smooth(canvas, sigma_px))
    assert np.abs(fast - reference).max() <= ONE_GREY_LEVEL


def test_blurring_a_constant_canvas_invents_no_structure() -> None:
    out = gaussian_smooth(np.full((300, 400), 0.37), 150.0)
    np.testing.assert_array_equal(min_max_normalize(out), np.zeros((300, 400)))


def test_area_downsampling_averages_whole_blocks() -> None:
    canvas = np.arange(16, dtype=np.float64).reshape(4, 4)
    expected = np.array([[2.5, 4.5], [10.5, 12.5]])
    np.testing.assert_allclose(resize_area(canvas, 2, 2), expected)


def test_area_downsampling_weights_fractional_pixels_by_their_share() -> None:
    canvas = np.array([[3.0, 6.0, 9.0]])
    # Output cells are 1.5 px wide: [3 + 0.5 * 6] / 1.5 and [0.5 * 6 + 9] / 1.5.
    np.testing.assert_allclose(resize_area(canvas, 1, 2), [[4.0, 8.0]], rtol=1e-6)


def test_blur_rejects_non_finite_canvas() -> None:
    canvas = np.zeros((5, 5))
    canvas[2, 2] = np.inf
    with pytest.raises(InvalidScoresError):
        gaussian_smooth(canvas, 2.0)
