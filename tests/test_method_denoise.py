"""Eq. 2 (denoise) and the finite-score check, as specifications."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from method_helpers import PROPERTY

from vea_augment.errors import ConfigError, InvalidScoresError
from vea_augment.method import check_finite_scores, denoise_grid, replaced_cells


def neighbour_values(grid: np.ndarray, r: int, c: int) -> list[float]:
    """The in-grid 8-neighbours of token (r, c)."""
    rows, cols = grid.shape
    return [
        grid[rr, cc]
        for rr in range(max(r - 1, 0), min(r + 2, rows))
        for cc in range(max(c - 1, 0), min(c + 2, cols))
        if (rr, cc) != (r, c)
    ]


def naive_denoise(grid: np.ndarray, lam: float) -> np.ndarray:
    """Eq. 2 written as the paper states it, one token at a time, from the original grid."""
    out = grid.astype(np.float64).copy()
    for r, c in zip(*np.nonzero(naive_spikes(grid, lam)), strict=True):
        neighbours = neighbour_values(grid, r, c)
        out[r, c] = sum(neighbours) / len(neighbours)
    return out


def test_interior_spike_is_replaced_by_the_mean_of_its_eight_neighbours() -> None:
    grid = np.zeros((5, 5))
    grid[1:4, 1:4] = [[1, 2, 3], [4, 100, 5], [6, 7, 8]]
    out = denoise_grid(grid)
    assert out[2, 2] == 4.5  # (1 + ... + 8) / 8
    expected = grid.copy()
    expected[2, 2] = 4.5
    np.testing.assert_array_equal(out, expected)


def test_corner_spike_uses_its_three_in_grid_neighbours_and_is_removed() -> None:
    grid = np.ones((5, 5))
    grid[0, 0] = 50.0
    grid[0, 1], grid[1, 0], grid[1, 1] = 1.0, 2.0, 3.0
    out = denoise_grid(grid)
    # Max neighbour 3, 50 > 30; edge replication would have made 50 its own neighbour.
    assert out[0, 0] == 2.0  # (1 + 2 + 3) / 3


def test_edge_spike_uses_its_five_in_grid_neighbours_and_is_removed() -> None:
    grid = np.ones((5, 5))
    grid[0, 2] = 60.0
    grid[0, 1], grid[0, 3] = 1.0, 2.0
    grid[1, 1], grid[1, 2], grid[1, 3] = 3.0, 4.0, 5.0
    out = denoise_grid(grid)
    assert out[0, 2] == 3.0  # (1 + 2 + 3 + 4 + 5) / 5
    untouched = np.ones((5, 5), dtype=bool)
    untouched[0, 2] = False
    np.testing.assert_array_equal(out[untouched], grid[untouched])


def test_two_token_cluster_is_kept() -> None:
    grid = np.ones((5, 5))
    grid[2, 2] = grid[2, 3] = 100.0
    np.testing.assert_array_equal(denoise_grid(grid), grid)


def test_value_exactly_lambda_times_neighbour_max_is_kept() -> None:
    grid = np.ones((3, 3))
    grid[1, 1] = 10.0
    np.testing.assert_array_equal(denoise_grid(grid, lam=10.0), grid)


def test_value_just_above_lambda_times_neighbour_max_is_replaced() -> None:
    grid = np.ones((3, 3))
    grid[1, 1] = 10.000001
    assert denoise_grid(grid, lam=10.0)[1, 1] == 1.0


def test_lambda_sets_the_spike_threshold() -> None:
    grid = np.ones((3, 3))
    grid[1, 1] = 3.0
    assert denoise_grid(grid, lam=10.0)[1, 1] == 3.0
    assert denoise_grid(grid, lam=2.0)[1, 1] == 1.0


def test_one_simultaneous_pass_decides_every_token_on_the_original_scores() -> None:
    grid = np.ones((5, 5))
    grid[2, 2] = 100.0
    grid[2, 3] = 10.0
    out = denoise_grid(grid, lam=2.0)
    assert out[2, 2] == (10.0 + 7.0) / 8.0
    # Judged against the replaced spike (2.125), 10 would exceed 2 x 2.125; it must not be.
    assert out[2, 3] == 10.0


@pytest.mark.parametrize("shape", [(2, 5), (5, 2), (1, 1), (2, 2), (1, 7)])
def test_grids_thinner_than_three_are_returned_unchanged_as_a_copy(shape: tuple[int, int]) -> None:
    grid = np.ones(shape)
    grid.flat[0] = 1000.0
    out = denoise_grid(grid)
    np.testing.assert_array_equal(out, grid)
    assert out is not grid
    out[...] = -1.0
    assert grid.flat[0] == 1000.0


def test_input_grid_is_not_modified() -> None:
    grid = np.ones((4, 4))
    grid[1, 2] = 500.0
    before = grid.copy()
    denoise_grid(grid)
    np.testing.assert_array_equal(grid, before)


def test_float32_input_stays_float32_and_integers_become_float64() -> None:
    assert denoise_grid(np.ones((3, 3), dtype=np.float32)).dtype == np.float32
    assert denoise_grid(np.ones((3, 3), dtype=np.int64)).dtype == np.float64


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_scores_raise_invalid_scores(bad: float) -> None:
    grid = np.ones((4, 4))
    grid[1, 1] = bad
    with pytest.raises(InvalidScoresError):
        denoise_grid(grid)


def test_non_2d_grid_raises_invalid_scores() -> None:
    with pytest.raises(InvalidScoresError):
        denoise_grid(np.ones(9))


@pytest.mark.parametrize("lam", [0.0, -1.0, np.nan, np.inf])
def test_lambda_must_be_positive_and_finite(lam: float) -> None:
    with pytest.raises(ConfigError):
        denoise_grid(np.ones((3, 3)), lam=lam)


def test_finite_check_names_what_and_counts_nan_and_inf() -> None:
    scores = np.array([np.nan, np.nan, np.inf, 1.0])
    with pytest.raises(InvalidScoresError, match=r"tile 3.*2 NaN and 1 inf"):
        check_finite_scores(scores, "tile 3")
    check_finite_scores(np.array([0.0, 1.0]), "fine")
    check_finite_scores(np.array([1, 2]), "integers are always finite")


grids = arrays(
    np.float64,
    st.tuples(st.integers(1, 9), st.integers(1, 9)),
    elements=st.floats(0.0, 1e6, allow_nan=False, allow_infinity=False),
)


@PROPERTY
@given(grid=grids, lam=st.sampled_from([0.5, 2.0, 10.0]))
def test_denoise_keeps_shape_and_never_increases_the_maximum(grid: np.ndarray, lam: float) -> None:
    out = denoise_grid(grid, lam)
    assert out.shape == grid.shape
    assert out.max() <= grid.max()


@PROPERTY
@given(grid=grids, lam=st.sampled_from([0.5, 2.0, 10.0]))
def test_denoise_equals_the_token_by_token_definition(grid: np.ndarray, lam: float) -> None:
    np.testing.assert_allclose(denoise_grid(grid, lam), naive_denoise(grid, lam), rtol=1e-12)


@PROPERTY
@given(
    grid=arrays(
        np.float64,
        st.tuples(st.integers(3, 8), st.integers(3, 8)),
        elements=st.floats(1.0, 10.0),
    )
)
def test_grid_whose_values_span_at_most_lambda_is_unchanged(grid: np.ndarray) -> None:
    np.testing.assert_array_equal(denoise_grid(grid, lam=10.0), grid)


def test_replaced_cells_marks_exactly_the_spikes_denoise_replaces() -> None:
    grid = np.ones((4, 5))
    grid[0, 0] = 11.0  # corner spike: above 10 x its neighbours' max
    grid[2, 3] = 10.0  # exactly lambda times: kept
    expected = np.zeros((4, 5), dtype=bool)
    expected[0, 0] = True
    np.testing.assert_array_equal(replaced_cells(grid, lam=10.0), expected)


def test_replaced_cells_of_a_thin_grid_is_all_false() -> None:
    np.testing.assert_array_equal(replaced_cells(np.array([[0.0, 50.0, 0.0]])), [[False] * 3])


def test_replaced_cells_validates_like_denoise() -> None:
    with pytest.raises(ConfigError):
        replaced_cells(np.ones((3, 3)), lam=0.0)
    with pytest.raises(InvalidScoresError):
        replaced_cells(np.full((3, 3), np.nan))


@PROPERTY
@given(grid=grids, lam=st.sampled_from([0.5, 2.0, 10.0]))
def test_denoise_changes_a_token_only_where_replaced_cells_says(
    grid: np.ndarray, lam: float
) -> None:
    changed = denoise_grid(grid, lam) != grid
    replaced = replaced_cells(grid, lam)
    # A replaced token may equal its neighbours' mean by chance; an unreplaced one never moves.
    assert not np.any(changed & ~replaced)
    np.testing.assert_array_equal(replaced, naive_spikes(grid, lam))


def naive_spikes(grid: np.ndarray, lam: float) -> np.ndarray:
    """Token by token: strictly above lam x the max of its in-grid 8-neighbours."""
    rows, cols = grid.shape
    spikes = np.zeros(grid.shape, dtype=bool)
    if rows < 3 or cols < 3:
        return spikes
    for r in range(rows):
        for c in range(cols):
            spikes[r, c] = grid[r, c] > lam * max(neighbour_values(grid, r, c))
    return spikes
