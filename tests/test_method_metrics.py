"""Answer metrics and attribution ranking metrics, pinned by hand and against scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, ndcg_score, roc_auc_score

from vea_augment.errors import InvalidScoresError
from vea_augment.method import protocols
from vea_augment.method.answer_metrics import (
    NORMALIZER_NAME,
    anls,
    exact_match,
    levenshtein,
    normalize_answer,
    token_f1,
    vqa_accuracy,
)
from vea_augment.method.ranking_metrics import auprc, auroc, nan_excluding_mean, ndcg

PROPERTY = settings(max_examples=80, deadline=None)


def test_normalizer_drops_case_punctuation_articles_and_extra_spaces():
    assert normalize_answer("  The  Red, Car!  ") == "red car"
    assert normalize_answer("an apple a day") == "apple day"


def test_the_long_standing_names_are_the_strict_anls_and_vqa_protocols():
    assert exact_match is protocols.get_protocol("strict").metrics[0].score
    assert token_f1 is protocols.get_protocol("strict").metrics[1].score
    assert protocols.get_protocol("strict").normalizer == NORMALIZER_NAME
    assert anls is protocols.get_protocol("anls").metrics[0].score
    assert vqa_accuracy is protocols.get_protocol("vqa").metrics[0].score
    # exact_match is strict equality, not the paper's containment EM.
    assert exact_match("15 apples", ["5"]) == 0.0


def test_vqa_accuracy_uses_the_evalai_normaliser():
    assert vqa_accuracy("two", ["2"] * 10) == 1.0
    assert vqa_accuracy("35", ["3.5"] * 10) == 0.0
    assert vqa_accuracy("Yes.", ["yes"] * 10) == 1.0


def test_exact_match_accepts_any_reference_after_normalisation():
    assert exact_match("The cat.", ["dog", "cat"]) == 1.0
    assert exact_match("cats", ["dog", "cat"]) == 0.0


def test_token_f1_takes_the_best_reference():
    # "red car" vs "red bus": p = r = 1/2 -> F1 1/2; vs "big red car": p = 1, r = 2/3 -> 0.8.
    assert token_f1("red car", ["red bus"]) == pytest.approx(0.5)
    assert token_f1("red car", ["red bus", "big red car"]) == pytest.approx(0.8)
    assert token_f1("", [""]) == 1.0
    assert token_f1("", ["cat"]) == 0.0


def test_metrics_refuse_a_bare_string_or_no_references():
    with pytest.raises(TypeError):
        exact_match("cat", "cat")
    with pytest.raises(ValueError, match="at least 1"):
        token_f1("cat", [])


def test_levenshtein_hand_values():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert levenshtein("abc", "abc") == 0


def test_anls_keeps_similarity_below_threshold_and_zeroes_at_or_above():
    # "abcd" vs "abce": NL = 1/4 -> 0.75.
    assert anls("abcd", ["abce"]) == pytest.approx(0.75)
    # "ab" vs "cd": NL = 1 -> 0.  "ab" vs "ac": NL = 0.5, not < 0.5 -> 0 (strict).
    assert anls("ab", ["cd"]) == 0.0
    assert anls("ab", ["ac"]) == 0.0
    assert anls("ABC ", ["xyz", "abc"]) == 1.0


def test_anls_of_two_empty_strings_is_one_not_a_division_by_zero():
    assert anls("", [""]) == 1.0
    assert anls("", ["a"]) == 0.0


def test_vqa_accuracy_averages_leave_one_out_subsets():
    # 10 answers, 2 match: subsets dropping a match (2 of 10) give 1/3, others 2/3.
    references = ["cat", "cat"] + ["dog"] * 8
    assert vqa_accuracy("cat", references) == pytest.approx((2 * (1 / 3) + 8 * (2 / 3)) / 10)
    # 3 matches: dropping a match leaves 2 -> 2/3 (3 subsets); else 1 (7 subsets).
    references = ["cat"] * 3 + ["dog"] * 7
    assert vqa_accuracy("cat", references) == pytest.approx((3 * (2 / 3) + 7) / 10)
    assert vqa_accuracy("cat", ["cat"] * 10) == 1.0
    assert vqa_accuracy("bird", references) == 0.0


def test_vqa_accuracy_needs_two_references():
    with pytest.raises(ValueError, match="at least 2"):
        vqa_accuracy("cat", ["cat"])


def test_ranking_metrics_hand_values_with_ties():
    scores = np.array([0.9, 0.5, 0.5, 0.1])
    labels = np.array([1, 0, 1, 0])
    # Pairs (pos, neg): (0.9,0.5)=1 (0.9,0.1)=1 (0.5,0.5)=.5 (0.5,0.1)=1 -> 3.5/4.
    assert auroc(scores, labels) == pytest.approx(0.875)
    # Thresholds 0.9: P=1 R=.5; 0.5: P=2/3 R=1 -> AP = .5*1 + .5*2/3.
    assert auprc(scores, labels) == pytest.approx(0.5 + 1 / 3)
    # DCG: 1 + (0.5)(1/log2 3 + 1/log2 4); ideal: 1 + 1/log2 3.
    expected = (1 + 0.5 * (1 / math.log2(3) + 0.5)) / (1 + 1 / math.log2(3))
    assert ndcg(scores, labels) == pytest.approx(expected)


def test_a_perfect_ranking_scores_one_everywhere():
    scores = np.array([3.0, 2.0, 1.0, 0.0])
    labels = np.array([1, 1, 0, 0])
    assert auroc(scores, labels) == 1.0
    assert ndcg(scores, labels) == pytest.approx(1.0)
    assert auprc(scores, labels) == 1.0


@pytest.mark.parametrize("metric", [auroc, ndcg, auprc])
@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1, 1]])
def test_all_equal_labels_yield_nan(metric, labels):
    assert math.isnan(metric(np.array([0.1, 0.2, 0.3]), np.array(labels)))


@pytest.mark.parametrize("metric", [auroc, ndcg, auprc])
def test_bad_ranking_input_is_refused_with_the_reason(metric):
    with pytest.raises(InvalidScoresError, match="NaN"):
        metric(np.array([np.nan, 1.0]), np.array([0, 1]))
    with pytest.raises(InvalidScoresError, match="3 scores but 2 labels"):
        metric(np.array([0.1, 0.2, 0.3]), np.array([0, 1]))
    with pytest.raises(InvalidScoresError, match="binary"):
        metric(np.array([0.1, 0.2]), np.array([0, 2]))


def test_nan_excluding_mean_counts_what_it_skipped():
    summary = nan_excluding_mean([1.0, math.nan, 0.5, math.nan])
    assert summary.mean == 0.75
    assert summary.std == 0.25
    assert (summary.n_used, summary.n_excluded) == (2, 2)
    empty = nan_excluding_mean([math.nan])
    assert math.isnan(empty.mean) and empty.n_excluded == 1


def _samples():
    # Few distinct score values so ties are frequent.
    return st.integers(min_value=2, max_value=40).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, 5), min_size=n, max_size=n),
            st.lists(st.integers(0, 1), min_size=n, max_size=n),
        )
    )


@PROPERTY
@given(_samples())
def test_ranking_metrics_match_scikit_learn_on_random_tied_inputs(sample):
    raw_scores, raw_labels = sample
    scores = np.array(raw_scores, dtype=np.float64) / 5.0
    labels = np.array(raw_labels)
    if labels.min() == labels.max():
        assert math.isnan(auroc(scores, labels))
        return
    assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert auprc(scores, labels) == pytest.approx(
        average_precision_score(labels, scores), abs=1e-12
    )
    assert ndcg(scores, labels) == pytest.approx(
        ndcg_score(labels[None, :], scores[None, :]), abs=1e-12
    )


@PROPERTY
@given(_samples())
def test_ranking_metrics_lie_in_unit_interval(sample):
    scores = np.array(sample[0], dtype=np.float64)
    labels = np.array(sample[1])
    for metric in (auroc, ndcg, auprc):
        value = metric(scores, labels)
        assert math.isnan(value) or 0.0 <= value <= 1.0 + 1e-12


@PROPERTY
@given(st.text(max_size=12), st.lists(st.text(max_size=12), min_size=1, max_size=4))
def test_answer_metrics_lie_in_unit_interval_and_exact_match_implies_full_f1(pred, refs):
    em, f1, score = exact_match(pred, refs), token_f1(pred, refs), anls(pred, refs)
    assert 0.0 <= f1 <= 1.0 and 0.0 <= score <= 1.0 and em in (0.0, 1.0)
    if em == 1.0:
        assert f1 == 1.0
