"""The ``strict`` protocol: SQuAD v1.1's exact match and count-based token F1."""

from __future__ import annotations

import pytest

from vea_augment.method.protocols.strict import exact_match, normalize, token_f1


def test_the_normaliser_drops_case_punctuation_articles_and_extra_spaces():
    assert normalize("  The  Red, Car!  ") == "red car"
    assert normalize("an apple a day") == "apple day"


def test_unicode_punctuation_is_dropped_like_ascii_punctuation():
    assert normalize("don\u2019t") == normalize("don't") == "dont"
    assert normalize("\u201cNokia\u201d") == "nokia"
    assert normalize("x\u2011ray \u2014 ok\u2026") == "xray ok"


def test_exact_match_needs_equality_with_some_reference():
    assert exact_match("The cat.", ["dog", "cat"]) == 1.0
    assert exact_match("cats", ["dog", "cat"]) == 0.0
    assert exact_match("15 apples", ["5"]) == 0.0  # the paper's containment EM says 1


def test_token_f1_counts_repeated_tokens_and_takes_the_best_reference():
    # "red car" vs "red bus": p = r = 1/2 -> F1 1/2; vs "big red car": p = 1, r = 2/3 -> 0.8.
    assert token_f1("red car", ["red bus"]) == pytest.approx(0.5)
    assert token_f1("red car", ["red bus", "big red car"]) == pytest.approx(0.8)
    assert token_f1("", [""]) == 1.0
    assert token_f1("", ["cat"]) == 0.0
