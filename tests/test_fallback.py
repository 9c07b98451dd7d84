"""The batch-then-one-by-one rule shared by augment, profile, analyze and answering."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vea_augment.errors import GeometryError
from vea_augment.fallback import batch_then_one_by_one


def squares_refusing(bad: set[int], calls: list[list[int]]):
    def run(batch):
        calls.append(list(batch))
        if bad.intersection(batch):
            raise GeometryError(f"bad item in {list(batch)}")
        return [item * item for item in batch]

    return run


def test_a_good_batch_runs_once():
    calls: list[list[int]] = []
    results = batch_then_one_by_one([1, 2, 3], squares_refusing(set(), calls), lambda i, e: -1)
    assert results == [1, 4, 9]
    assert calls == [[1, 2, 3]]


def test_a_bad_item_costs_only_itself_and_keeps_its_reason():
    calls: list[list[int]] = []
    results = batch_then_one_by_one(
        [1, 2, 3], squares_refusing({2}, calls), lambda item, error: f"{item}: {error}"
    )
    assert results == [1, "2: bad item in [2]", 9]
    assert calls == [[1, 2, 3], [1], [2], [3]]


def test_a_batch_of_one_is_not_run_twice():
    calls: list[list[int]] = []
    results = batch_then_one_by_one([5], squares_refusing({5}, calls), lambda i, e: None)
    assert results == [None]
    assert calls == [[5]]


def test_errors_outside_the_given_kinds_propagate():
    def run(batch):
        raise MemoryError("out of memory")

    with pytest.raises(MemoryError):
        batch_then_one_by_one([1, 2], run, lambda i, e: None)


def test_other_error_kinds_can_be_chosen():
    def run(batch):
        if 0 in batch:
            raise ValueError("zero")
        return [10 // item for item in batch]

    results = batch_then_one_by_one([0, 5], run, lambda i, e: str(e), errors=(ValueError,))
    assert results == ["zero", 2]


def test_a_run_that_loses_results_is_a_bug_not_a_sample_error():
    with pytest.raises(RuntimeError, match="a batch of 2 gave 1 results"):
        batch_then_one_by_one([1, 2], lambda batch: [0], lambda i, e: None)


@given(st.lists(st.integers(-5, 5), max_size=8), st.sets(st.integers(-5, 5)))
def test_every_item_gets_its_own_result_in_order(items, bad):
    results = batch_then_one_by_one(
        items, squares_refusing(bad, []), lambda item, error: ("failed", item)
    )
    assert results == [("failed", i) if i in bad else i * i for i in items]
