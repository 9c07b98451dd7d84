"""The ``anls`` protocol: ANLS with τ = 0.5, pinned by hand and checked against lmms-eval
0.7.3's ``anls`` (from Qwen-VL's InfographicVQA script) on the same answers."""

from __future__ import annotations

import pytest
from answer_strategies import REFERENCE_CHECK
from hypothesis import assume, given
from hypothesis import strategies as st
from reference_impls import lmms_anls

from vea_augment.method.protocols.anls import THRESHOLD, anls


def test_the_threshold_is_the_challenges_one_half():
    assert THRESHOLD == 0.5


def test_similarity_is_kept_below_the_threshold_and_zeroed_at_or_above_it():
    # "abcd" vs "abce": NL = 1/4 -> 0.75.
    assert anls("abcd", ["abce"]) == pytest.approx(0.75)
    # "ab" vs "cd": NL = 1 -> 0.  "ab" vs "ac": NL = 0.5, not < 0.5 -> 0 (strict).
    assert anls("ab", ["cd"]) == 0.0
    assert anls("ab", ["ac"]) == 0.0
    assert anls("ab", ["ac"], threshold=0.6) == pytest.approx(0.5)


def test_case_and_spacing_do_not_count_and_the_best_reference_wins():
    assert anls("ABC ", ["xyz", "abc"]) == 1.0
    assert anls("red  car", ["red car"]) == 1.0


def test_two_empty_strings_score_one_rather_than_dividing_by_zero():
    assert anls("", [""]) == 1.0
    assert anls("  ", [""]) == 1.0
    assert anls("", ["a"]) == 0.0


def test_unicode_punctuation_counts_as_its_ascii_form():
    assert anls("don\u2019t", ["don't"]) == 1.0
    assert anls("x\u2011ray", ["x-ray"]) == 1.0
    # The quotes themselves still differ from no quotes, as in ASCII: NL = 2/7.
    assert anls("\u201cNokia\u201d", ["Nokia"]) == pytest.approx(anls('"Nokia"', ["Nokia"]))
    assert anls('"Nokia"', ["Nokia"]) == pytest.approx(5 / 7)


def test_lmms_eval_differs_only_at_nl_equal_to_the_threshold():
    # lmms-eval zeroes a score below 0.5 and so keeps 0.5 itself; ANLS as defined does not.
    assert lmms_anls()(["ac"], ["ab"])["anls"] == 0.5
    assert anls("ab", ["ac"]) == 0.0


_SQUASHED = st.lists(st.text(alphabet="abcdeXYZ019é中-.'", min_size=1, max_size=6), max_size=3).map(
    " ".join
)


@REFERENCE_CHECK
@given(_SQUASHED, st.lists(_SQUASHED, min_size=1, max_size=3))
def test_anls_equals_lmms_evals_away_from_the_threshold(prediction, references):
    # lmms-eval divides by the raw lengths: compare on answers that are already squashed.
    assume(all(len(s.upper()) == len(s) == len(s.lower()) for s in [prediction, *references]))
    expected = lmms_anls()(references, [prediction])["anls"]
    if expected == THRESHOLD:
        assert anls(prediction, references) == 0.0
    else:
        assert anls(prediction, references) == pytest.approx(expected, abs=1e-12)
