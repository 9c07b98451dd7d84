"""The ``vqa`` protocol: EvalAI's answer processor and the leave-one-out VQA accuracy, pinned
by hand and checked against lmms-eval 0.7.3's own code on the same answers."""

from __future__ import annotations

import pytest
from answer_strategies import REFERENCE_CHECK, answers, ascii_typed
from hypothesis import given
from hypothesis import strategies as st
from reference_impls import evalai_processor, lmms_textvqa_accuracy

from vea_augment.method.protocols.vqa import PROTOCOL, normalize, vqa_accuracy


def test_number_words_become_digits_so_two_scores_like_2():
    assert vqa_accuracy("two", ["2"] * 10) == 1.0
    assert normalize("Three") == "3"
    assert normalize("none") == "0"
    assert normalize("eleven") == "eleven"  # only none/zero..ten


def test_a_decimal_keeps_its_point_so_35_is_not_3_point_5():
    assert vqa_accuracy("35", ["3.5"] * 10) == 0.0
    assert normalize("3.5") == "3.5"
    assert normalize("Yes.") == "yes"
    assert normalize("3.") == "3"


def test_commas_are_deleted_so_thousands_separators_vanish():
    assert normalize("1,000") == "1000"
    assert normalize("red, blue") == "red blue"


def test_articles_are_dropped_and_contractions_get_their_apostrophe_back():
    assert normalize("A dog") == "dog"
    assert normalize("the an a") == ""
    assert normalize("dont") == "don't"
    assert normalize("it's") == "it 's"
    assert normalize("somebody'd") == "somebodyd"  # EvalAI's table has it backwards


def test_a_listed_mark_touching_a_space_is_deleted_else_it_becomes_a_space():
    assert normalize("x-ray") == "x ray"
    assert normalize("x - ray") == "x ray"
    assert normalize("x-ray -5") == "xray 5"  # " -" occurs: every "-" is deleted
    assert normalize("(red)") == "red"
    assert normalize("#1: yes") == "#1: yes"  # "#" and ":" are not on the list


def test_unicode_punctuation_scores_like_its_ascii_form():
    assert normalize("don\u2019t") == normalize("don't") == "don't"
    assert normalize("\u201cNokia\u201d") == normalize('"Nokia"') == "nokia"
    assert normalize("x\u2011ray") == normalize("x-ray")
    assert vqa_accuracy("Don\u2019t know", ["dont know"] * 10) == 1.0


def test_at_most_32_periods_are_deleted_as_in_the_official_script():
    assert normalize("." * 40) == "." * 8


def test_accuracy_is_the_mean_over_leave_one_out_subsets_of_min_matches_over_3():
    # 10 answers, 2 match: the 2 subsets without a match-holder see 1 match (1/3), the other
    # 8 see 2 (2/3).
    assert vqa_accuracy("cat", ["cat", "cat"] + ["dog"] * 8) == pytest.approx(
        (2 * (1 / 3) + 8 * (2 / 3)) / 10
    )
    # 4 matches: dropping a match leaves 3 (full credit), dropping another answer leaves 4.
    assert vqa_accuracy("cat", ["cat"] * 4 + ["dog"] * 6) == 1.0
    assert vqa_accuracy("bird", ["cat"] * 10) == 0.0


def test_accuracy_needs_two_references_and_is_shown_by_default_with_ten():
    with pytest.raises(ValueError, match="at least 2"):
        vqa_accuracy("cat", ["cat"])
    assert PROTOCOL.min_references == 2
    assert PROTOCOL.applies("textvqa", [["a"] * 10, ["b"] * 10])
    assert not PROTOCOL.applies("textvqa", [["a"] * 10, ["b"] * 3])


@REFERENCE_CHECK
@given(answers())
def test_the_normaliser_equals_lmms_evals_evalai_processor(answer):
    assert normalize(answer) == evalai_processor()(ascii_typed(answer))


@REFERENCE_CHECK
@given(
    st.sampled_from(["two", "2", "Yes.", "yes", "3.5", "35", "a dog", "don't", "x-ray", ""]),
    st.lists(
        st.sampled_from(["2", "two", "yes", "Yes", "no", "3.5", "dog", "dont", "x ray", "xray"]),
        min_size=2,
        max_size=10,
    ),
)
def test_accuracy_equals_lmms_evals_textvqa_scoring(prediction, references):
    expected = lmms_textvqa_accuracy()(prediction, references)
    assert vqa_accuracy(prediction, references) == pytest.approx(expected, abs=1e-12)


@REFERENCE_CHECK
@given(answers(max_pieces=3), st.lists(answers(max_pieces=2), min_size=2, max_size=10))
def test_accuracy_equals_lmms_evals_on_generated_answers(prediction, references):
    expected = lmms_textvqa_accuracy()(
        ascii_typed(prediction), [ascii_typed(ref) for ref in references]
    )
    assert vqa_accuracy(prediction, references) == pytest.approx(expected, abs=1e-12)
