"""The ``relaxed`` protocol: ChartQA's relaxed accuracy, on hand-computed cases and against
lmms-eval 0.7.3's ``relaxed_correctness`` where the two are meant to agree."""

from __future__ import annotations

import pytest
from answer_strategies import REFERENCE_CHECK
from hypothesis import given
from hypothesis import strategies as st
from reference_impls import lmms_relaxed_correctness

from vea_augment.method.protocols.relaxed import (
    PROTOCOL,
    TOLERANCE,
    parse_number,
    relaxed_accuracy,
)


@pytest.mark.parametrize(
    ("prediction", "reference", "expected"),
    [
        ("105", "100", 1.0),  # |105 - 100| / 100 = 0.05 <= 0.05: inclusive
        ("95", "100", 1.0),
        ("106", "100", 0.0),  # 0.06
        ("94.9", "100", 0.0),  # 0.051
        ("-3.2", "-3.1", 1.0),  # 0.1 / 3.1 = 0.032
        ("12.5", "12", 1.0),  # 0.5 / 12 = 0.0417
        ("13", "12", 0.0),  # 1 / 12 = 0.083
        ("1,050", "1000", 1.0),  # thousands separators: 1050 vs 1000 = 0.05
        ("1,234,567", "1234567", 1.0),
        ("1,00", "100", 0.0),  # not a grouping of thousands: compared as text
        ("45%", "0.45", 1.0),  # a percentage is divided by 100
        ("45 %", "45%", 1.0),
        ("45%", "45", 0.0),  # 0.45 vs 45
        ("0", "0", 1.0),
        ("0.0", "0", 1.0),  # a zero reference needs exactly zero
        ("0.01", "0", 0.0),
        ("1e3", "1000", 1.0),
        ("5.", "5", 1.0),
    ],
)
def test_numbers_within_five_percent_of_the_reference_are_right(prediction, reference, expected):
    assert relaxed_accuracy(prediction, [reference]) == expected


@pytest.mark.parametrize(
    ("prediction", "reference", "expected"),
    [
        ("Blue", "blue", 1.0),
        ("  blue  ", "blue", 1.0),
        ("navy", "blue", 0.0),
        ("United  States", "united states", 1.0),
        ("Don\u2019t know", "don't know", 1.0),  # Unicode punctuation as its ASCII form
        ("blue.", "blue", 0.0),  # punctuation is kept: exact match
        ("nan", "nan", 1.0),  # a word here, not a number
    ],
)
def test_other_answers_need_an_exact_match_after_normalisation(prediction, reference, expected):
    assert relaxed_accuracy(prediction, [reference]) == expected


def test_any_reference_may_match_and_the_tolerance_is_a_parameter():
    assert relaxed_accuracy("yes", ["no", "yes"]) == 1.0
    assert TOLERANCE == 0.05
    assert relaxed_accuracy("110", ["100"]) == 0.0
    assert relaxed_accuracy("110", ["100"], tolerance=0.1) == 1.0


def test_numbers_are_read_with_sign_fraction_exponent_grouping_and_percent():
    assert parse_number("-1,234.5") == -1234.5
    assert parse_number("+.5") == 0.5
    assert parse_number("12.5%") == pytest.approx(0.125)
    assert parse_number("2e-3") == pytest.approx(0.002)
    for text in ["", ".", "-", "%", "1,00", "12a", "inf", "nan", "1 000"]:
        assert parse_number(text) is None, text


def test_it_is_shown_by_default_on_chart_datasets_only():
    assert PROTOCOL.applies("ChartQA", [["1"]])
    assert PROTOCOL.applies("m/my-charts", [["1"]])
    assert not PROTOCOL.applies("textvqa", [["1"]])


_NUMBERS = st.one_of(
    st.integers(-5000, 5000).map(str),
    st.floats(-1e4, 1e4, allow_nan=False).map(lambda x: f"{x:.3f}"),
    st.integers(1, 999).map(lambda x: f"{x}%"),
)
_WORDS = st.sampled_from(["yes", "Yes", "no", "blue", "Blue", "2019a"])


@REFERENCE_CHECK
@given(st.one_of(_NUMBERS, _WORDS), st.one_of(_NUMBERS, _WORDS))
def test_equals_lmms_evals_relaxed_correctness_on_plain_numbers_and_words(prediction, target):
    # Where lmms-eval is meant to agree: no thousands separators and no zero target (both
    # read differently here, by design); number literals of every sign, size and percent.
    if parse_number(target) == 0.0:
        return
    expected = lmms_relaxed_correctness()(prediction, target)
    assert relaxed_accuracy(prediction, [target]) == float(expected)
