"""Eq. 4 (highlight) and the 8-bit mask encoding."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from method_helpers import PROPERTY

from vea_augment.errors import ConfigError, GeometryError, InvalidScoresError
from vea_augment.method import highlight_image, mask_to_uint8


def random_image(rows: int = 6, cols: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (rows, cols, 3), dtype=np.uint8)


def test_alpha_one_leaves_the_image_byte_identical() -> None:
    image = random_image()
    mask = np.random.default_rng(1).random(image.shape[:2])
    out = highlight_image(image, mask, alpha=1.0)
    assert out.dtype == np.uint8
    assert out.tobytes() == image.tobytes()
    assert out is not image


def test_alpha_zero_with_mask_zero_gives_black() -> None:
    out = highlight_image(random_image(), np.zeros((6, 5)), alpha=0.0)
    np.testing.assert_array_equal(out, np.zeros((6, 5, 3), dtype=np.uint8))


def test_mask_one_keeps_every_pixel_for_any_alpha() -> None:
    image = random_image()
    for alpha in (0.0, 0.3, 0.5):
        np.testing.assert_array_equal(highlight_image(image, np.ones((6, 5)), alpha), image)


def test_known_two_by_two_example() -> None:
    image = np.array(
        [[[100, 200, 50], [255, 10, 0]], [[75, 101, 3], [200, 13, 255]]], dtype=np.uint8
    )
    mask = np.array([[0.0, 1.0], [0.5, 0.25]])
    # Factors 0.5 + 0.5 * mask: 0.5, 1, 0.75, 0.625.
    expected = np.array(
        [[[50, 100, 25], [255, 10, 0]], [[56, 76, 2], [125, 8, 159]]], dtype=np.uint8
    )
    np.testing.assert_array_equal(highlight_image(image, mask, alpha=0.5), expected)


def test_rounding_is_half_to_even() -> None:
    image = np.array([[75, 73]], dtype=np.uint8)
    # 37.5 -> 38 and 36.5 -> 36, as numpy.rint rounds.
    out = highlight_image(image, np.zeros((1, 2)), alpha=0.5)
    np.testing.assert_array_equal(out, [[38, 36]])


def test_grayscale_image_is_highlighted_too() -> None:
    image = np.array([[200, 100]], dtype=np.uint8)
    np.testing.assert_array_equal(highlight_image(image, np.array([[1.0, 0.0]])), [[200, 50]])


def test_mask_to_uint8_scales_by_255_and_rounds() -> None:
    mask = np.array([[0.0, 1.0], [0.5, 0.2]])
    out = mask_to_uint8(mask)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[0, 255], [128, 51]])


def test_mask_of_another_shape_raises_geometry_error() -> None:
    with pytest.raises(GeometryError):
        highlight_image(random_image(6, 5), np.zeros((5, 6)))


@pytest.mark.parametrize("alpha", [-0.01, 1.01, np.nan])
def test_alpha_outside_unit_interval_raises_config_error(alpha: float) -> None:
    with pytest.raises(ConfigError):
        highlight_image(random_image(), np.zeros((6, 5)), alpha=alpha)


def test_nan_mask_raises_invalid_scores() -> None:
    mask = np.zeros((6, 5))
    mask[2, 2] = np.nan
    with pytest.raises(InvalidScoresError):
        highlight_image(random_image(), mask)
    with pytest.raises(InvalidScoresError):
        mask_to_uint8(mask)


def test_mask_above_one_raises_invalid_scores_instead_of_brightening() -> None:
    with pytest.raises(InvalidScoresError):
        highlight_image(random_image(), np.full((6, 5), 1.5))


def test_non_uint8_or_four_channel_image_raises_geometry_error() -> None:
    with pytest.raises(GeometryError):
        highlight_image(random_image().astype(np.float32), np.zeros((6, 5)))
    with pytest.raises(GeometryError):
        highlight_image(np.zeros((6, 5, 4), dtype=np.uint8), np.zeros((6, 5)))


images_and_masks = st.tuples(st.integers(1, 8), st.integers(1, 8)).flatmap(
    lambda hw: st.tuples(
        arrays(np.uint8, (*hw, 3)),
        arrays(np.float64, hw, elements=st.floats(0.0, 1.0)),
    )
)


@PROPERTY
@given(pair=images_and_masks, alpha=st.floats(0.0, 1.0))
def test_highlight_never_brightens_and_keeps_shape(
    pair: tuple[np.ndarray, np.ndarray], alpha: float
) -> None:
    image, mask = pair
    out = highlight_image(image, mask, alpha)
    assert out.shape == image.shape
    assert out.dtype == np.uint8
    assert np.all(out <= image)


@PROPERTY
@given(pair=images_and_masks, alpha=st.floats(0.0, 1.0))
def test_more_evidence_never_darkens(pair: tuple[np.ndarray, np.ndarray], alpha: float) -> None:
    image, mask = pair
    brighter_mask = np.minimum(mask + 0.25, 1.0)
    assert np.all(
        highlight_image(image, brighter_mask, alpha) >= highlight_image(image, mask, alpha)
    )
