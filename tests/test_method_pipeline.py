"""The method end to end: views -> evidence mask -> highlighted image."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from method_helpers import PROPERTY, box_grid

from vea_augment.errors import GeometryError, InvalidScoresError
from vea_augment.method import (
    MaskConfig,
    TokenView,
    denoise_grid,
    evidence_mask,
    highlight_with_views,
    min_max_normalize,
    sigma_in_pixels,
)
from vea_augment.testing.reference import reference_gaussian_smooth, reference_paint

NO_SMOOTH = MaskConfig(smooth=False)


def tiles_and_thumbnail(width: int, height: int, seed: int) -> list[TokenView]:
    """Two tiles (left and right halves) plus a coarser thumbnail over the whole image."""
    rng = np.random.default_rng(seed)
    half = width / 2
    return [
        TokenView("tile-0", rng.random((12, 8)) ** 4, box_grid(0, 0, half, height, 12, 8)),
        TokenView("tile-1", rng.random((12, 8)) ** 4, box_grid(half, 0, width, height, 12, 8)),
        TokenView("thumb", rng.random((6, 8)) ** 4, box_grid(0, 0, width, height, 6, 8)),
    ]


def reference_mask(
    views: list[TokenView], width: int, height: int, config: MaskConfig
) -> np.ndarray:
    """Every step at full resolution in float64: paint, the plain full-resolution blur (the
    paper release's scipy call), normalise."""
    if config.denoise:
        views = [TokenView(v.name, denoise_grid(v.scores, config.lam), v.boxes) for v in views]
    canvas = reference_paint(views, width, height)
    sigma_px = sigma_in_pixels(config.sigma, width, height)
    return min_max_normalize(reference_gaussian_smooth(canvas, sigma_px))


#: The mask is the full-resolution computation up to rounding (float32 output).
EXACT = 1e-6


@pytest.mark.parametrize("sigma", [0.5, 0.1, 0.05, 20.0, 3.0])
def test_mask_equals_the_full_resolution_computation(sigma: float) -> None:
    width, height = 400, 300
    views = tiles_and_thumbnail(width, height, seed=7)
    config = MaskConfig(sigma=sigma)
    fast = evidence_mask(views, width, height, config)
    reference = reference_mask(views, width, height, config)
    assert np.abs(fast - reference).max() <= EXACT


def test_a_nearly_flat_grid_gives_the_full_resolution_mask() -> None:
    # 18 x 18 tokens of 28 px, scores 1 + 0.01 U: the paper's blur keeps about 0.5 % of the
    # painted range and normalisation stretches that to [0, 1]. A working-resolution blur
    # was up to 3 grey levels off here.
    scores = 1.0 + 0.01 * np.random.default_rng(15).random((18, 18))
    views = [TokenView("grid", scores, box_grid(0, 0, 504, 504, 18, 18))]
    config = MaskConfig(denoise=False)
    reference = reference_mask(views, 504, 504, config)
    assert np.abs(evidence_mask(views, 504, 504, config) - reference).max() <= EXACT


@PROPERTY
@given(
    width=st.integers(20, 260),
    height=st.integers(20, 260),
    grid=st.tuples(st.integers(1, 24), st.integers(1, 24)),
    kind=st.sampled_from(["uniform", "peaked", "flat", "hot", "checker"]),
    layout=st.sampled_from(["grid", "crop", "tiles"]),
    sigma=st.sampled_from([1.0, 0.5, 0.25, 0.05, 30.0, 2.5]),
    seed=st.integers(0, 2**16),
)
def test_mask_equals_the_full_resolution_computation_for_any_layout(
    width: int,
    height: int,
    grid: tuple[int, int],
    kind: str,
    layout: str,
    sigma: float,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)

    def scores(shape: tuple[int, int]) -> np.ndarray:
        if kind == "hot":
            return np.eye(1, shape[0] * shape[1], rng.integers(shape[0] * shape[1])).reshape(shape)
        if kind == "checker":
            return np.indices(shape).sum(0) % 2.0
        values = rng.random(shape)
        return {"uniform": values, "peaked": values**6, "flat": 1.0 + 0.01 * values}[kind]

    rows, cols = grid
    if layout == "grid":
        views = [TokenView("grid", scores(grid), box_grid(0, 0, width, height, rows, cols))]
    elif layout == "crop":  # a centre crop: the side bands get no token
        margin = 0.15 * width
        boxes = box_grid(margin, 0, width - margin, height, rows, cols)
        views = [TokenView("crop", scores(grid), boxes)]
    else:
        views = tiles_and_thumbnail(width, height, seed)
    config = MaskConfig(sigma=sigma, denoise=False)
    fast = evidence_mask(views, width, height, config)
    assert np.abs(fast - reference_mask(views, width, height, config)).max() <= EXACT


def test_large_image_with_default_sigma_gives_a_full_resolution_mask() -> None:
    rng = np.random.default_rng(0)
    view = TokenView("grid", rng.random((80, 80)), box_grid(0, 0, 4000, 3000, 80, 80))
    mask = evidence_mask([view], 4000, 3000)
    assert mask.shape == (3000, 4000)
    assert mask.dtype == np.float32
    assert mask.min() == 0.0
    assert mask.max() == 1.0


def test_without_smoothing_the_mask_is_the_normalised_painted_grid() -> None:
    view = TokenView("grid", np.array([[0.0, 1.0], [2.0, 4.0]]), box_grid(0, 0, 4, 4, 2, 2))
    mask = evidence_mask([view], 4, 4, NO_SMOOTH)
    expected = np.kron([[0.0, 0.25], [0.5, 1.0]], np.ones((2, 2)))
    np.testing.assert_array_equal(mask, expected)


def test_denoising_removes_an_attention_sink_before_painting() -> None:
    scores = np.ones((3, 3))
    scores[1, 1] = 100.0
    view = TokenView("grid", scores, box_grid(0, 0, 6, 6, 3, 3))
    # Denoised, the grid is constant: no evidence anywhere.
    np.testing.assert_array_equal(evidence_mask([view], 6, 6, NO_SMOOTH), np.zeros((6, 6)))
    raw = evidence_mask([view], 6, 6, MaskConfig(smooth=False, denoise=False))
    expected = np.zeros((6, 6))
    expected[2:4, 2:4] = 1.0
    np.testing.assert_array_equal(raw, expected)


def test_denoising_does_not_modify_the_callers_views() -> None:
    scores = np.ones((3, 3))
    scores[0, 0] = 100.0
    view = TokenView("grid", scores, box_grid(0, 0, 6, 6, 3, 3))
    evidence_mask([view], 6, 6)
    assert view.scores[0, 0] == 100.0


def test_constant_scores_give_an_all_zero_mask() -> None:
    view = TokenView("grid", np.full((4, 4), 0.2), box_grid(0, 0, 64, 48, 4, 4))
    for config in (MaskConfig(), NO_SMOOTH, MaskConfig(sigma=3.0)):
        np.testing.assert_array_equal(evidence_mask([view], 64, 48, config), np.zeros((48, 64)))


@pytest.mark.parametrize("sigma", [0.5, 5.0])
def test_evidence_at_the_image_corner_stays_brightest_there(sigma: float) -> None:
    scores = np.zeros((10, 10))
    scores[0, 0] = 1.0
    view = TokenView("grid", scores, box_grid(0, 0, 100, 100, 10, 10))
    # Reflecting boundary: the corner is not pulled towards the zero outside the image.
    mask = evidence_mask([view], 100, 100, MaskConfig(sigma=sigma, denoise=False))
    assert mask[0, 0] == 1.0


def test_the_mask_peaks_inside_the_evidence_token() -> None:
    scores = np.full((8, 8), 0.01)
    scores[5, 2] = 0.05
    scores[5, 3] = 0.05
    view = TokenView("grid", scores, box_grid(0, 0, 320, 240, 8, 8))
    mask = evidence_mask([view], 320, 240, MaskConfig(sigma=0.1))
    row, col = np.unravel_index(np.argmax(mask), mask.shape)
    assert 150 <= row < 180
    assert 80 <= col < 160


def test_highlight_with_views_returns_the_dimmed_image_and_its_mask() -> None:
    width, height = 64, 48
    image = np.random.default_rng(2).integers(0, 256, (height, width, 3), dtype=np.uint8)
    views = tiles_and_thumbnail(width, height, seed=3)
    highlighted, mask = highlight_with_views(image, views)
    assert highlighted.shape == image.shape
    assert highlighted.dtype == np.uint8
    np.testing.assert_array_equal(mask, evidence_mask(views, width, height))
    untouched, _ = highlight_with_views(image, views, MaskConfig(alpha=1.0))
    assert untouched.tobytes() == image.tobytes()


def test_no_views_raises_geometry_error() -> None:
    with pytest.raises(GeometryError):
        evidence_mask([], 10, 10)


def test_grid_not_matching_its_boxes_raises() -> None:
    view = TokenView("thumb", np.ones((3, 3)), box_grid(0, 0, 10, 10, 2, 2))
    with pytest.raises((GeometryError, InvalidScoresError)):
        evidence_mask([view], 10, 10)


def test_nan_scores_raise_invalid_scores() -> None:
    scores = np.ones((3, 3))
    scores[1, 2] = np.nan
    with pytest.raises(InvalidScoresError):
        evidence_mask([TokenView("grid", scores, box_grid(0, 0, 9, 9, 3, 3))], 9, 9)


@PROPERTY
@given(
    width=st.integers(1, 160),
    height=st.integers(1, 160),
    rows=st.integers(1, 9),
    cols=st.integers(1, 9),
    sigma=st.sampled_from([0.0, 0.05, 0.5, 1.0, 2.5, 40.0]),
    denoise=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_evidence_mask_lies_in_unit_interval_at_the_image_size(
    width: int, height: int, rows: int, cols: int, sigma: float, denoise: bool, seed: int
) -> None:
    scores = np.random.default_rng(seed).random((rows, cols))
    view = TokenView("grid", scores, box_grid(0, 0, width, height, rows, cols))
    mask = evidence_mask([view], width, height, MaskConfig(sigma=sigma, denoise=denoise))
    assert mask.shape == (height, width)
    assert mask.dtype == np.float32
    assert mask.min() >= 0.0
    assert mask.max() <= 1.0
