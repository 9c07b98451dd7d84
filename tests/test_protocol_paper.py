"""The ``paper`` protocol: qa-metrics 0.2.42's containment EM and set-based lemma F1, pinned by
hand from its source and checked against the released qa-metrics code on the same answers.

``em_match`` runs as released (only ``nltk.download`` is stubbed for the import). Its F1 runs
as released with NLTK's data-driven tagger + WordNet swapped for our lemmatiser (they need
downloaded data); the lemmas themselves are pinned against WordNet's answers by hand.
"""

from __future__ import annotations

import pytest
from answer_strategies import REFERENCE_CHECK, answers, reference_lists
from hypothesis import given
from reference_impls import qa_metrics, qa_metrics_f1_without_nltk_data, reference_package

from vea_augment.method.protocols.lemmas import lemma, tokenize
from vea_augment.method.protocols.paper import (
    exact_match,
    normalize,
    normalize_for_f1,
    token_f1,
)
from vea_augment.method.protocols.strict import exact_match as strict_exact_match
from vea_augment.method.protocols.strict import token_f1 as strict_token_f1


@pytest.mark.parametrize(
    ("prediction", "reference"),
    [
        ("15 apples", "5"),
        ("Nokia phone", "nokia"),
        ("pineapple", "apple"),
        ("The answer is: Paris.", "paris"),
        ("Nokia 3310", "3310"),
    ],
)
def test_em_is_right_when_the_reference_is_contained_in_the_prediction(prediction, reference):
    assert exact_match(prediction, [reference]) == 1.0
    assert strict_exact_match(prediction, [reference]) == 0.0


def test_em_is_wrong_when_the_prediction_is_contained_in_the_reference():
    assert exact_match("apple", ["pineapple"]) == 0.0
    assert exact_match("5", ["15 apples"]) == 0.0


def test_a_reference_that_normalises_to_nothing_is_in_every_nonempty_prediction():
    assert exact_match("anything", ["the"]) == 1.0
    assert exact_match("?", ["?"]) == 1.0
    assert exact_match("", ["the"]) == 0.0  # an empty prediction is always wrong
    assert exact_match("?", ["x"]) == 0.0


def test_any_reference_may_match():
    assert exact_match("a red car", ["blue", "red"]) == 1.0


def test_the_normaliser_strips_unicode_punctuation_symbols_and_articles():
    assert normalize("The “Nokia” phone!") == "nokia phone"
    assert normalize("don\u2019t") == normalize("don't") == "dont"
    assert normalize("x\u2011ray — 3\u20135") == "xray 35"
    assert normalize("a+b=c | d~") == "abc d"
    assert normalize("  An\tapple  ") == "apple"


def test_articles_are_whole_words_as_the_regex_module_sees_them():
    # A combining mark continues a word (so "á" is no article); "²" ends one.
    assert normalize("a\u0301 cat") == "a\u0301 cat"
    assert normalize("the\u00b2") == "\u00b2"


def test_f1_counts_each_lemma_once():
    # Sets {apple, pie} on both sides; SQuAD's count-based F1: p = 2/3, r = 1 -> 0.8.
    assert token_f1("apple apple pie", ["apple pie"]) == 1.0
    assert strict_token_f1("apple apple pie", ["apple pie"]) == pytest.approx(0.8)


def test_f1_compares_lemmas():
    assert token_f1("red apples", ["an apple, red"]) == 1.0
    assert token_f1("The children ran", ["child run"]) == 1.0
    # {red, car} vs {blue, car}: p = r = 1/2.
    assert token_f1("red cars", ["blue car"]) == pytest.approx(0.5)


def test_f1_of_two_empty_answers_is_zero_and_the_best_reference_wins():
    assert token_f1("", [""]) == 0.0
    assert token_f1("the", ["a"]) == 0.0
    assert token_f1("red car", ["blue", "red car"]) == 1.0


def test_the_tokeniser_splits_nltks_contractions():
    assert tokenize("i cannot gonna wanna") == ["i", "can", "not", "gon", "na", "wan", "na"]
    tokens = tokenize("gimme lemme gotta wannabe")
    assert tokens == ["gim", "me", "lem", "me", "got", "ta", "wannabe"]
    assert token_f1("cannot", ["can not"]) == 1.0


@pytest.mark.parametrize(
    ("word", "wordnet"),
    [
        ("apples", "apple"),
        ("boxes", "box"),
        ("children", "child"),
        ("mice", "mouse"),
        ("leaves", "leaf"),
        ("glasses", "glass"),
        ("running", "run"),
        ("ran", "run"),
        ("was", "be"),
        ("is", "be"),
        ("does", "do"),
        ("went", "go"),
        ("gone", "go"),
        ("written", "write"),
        ("bigger", "big"),
        ("better", "good"),
        ("data", "data"),
        ("nokia", "nokia"),
        ("15", "15"),
        ("3.5", "3.5"),
    ],
)
def test_lemmas_agree_with_wordnet_on_the_forms_answers_use(word, wordnet):
    assert lemma(word) == wordnet


def test_a_word_both_noun_and_verb_form_takes_the_verb_lemma_unlike_the_tagger():
    # NLTK's tagger usually tags "building" alone as a noun (WordNet: "building").
    assert lemma("building") == "build"
    assert lemma("buildings") == "building"


@REFERENCE_CHECK
@given(answers())
def test_the_normaliser_equals_qa_metrics(answer):
    tools = qa_metrics().tools
    assert normalize_for_f1(answer) == tools.normalize_answer(answer)
    assert normalize(answer) == tools.remove_punctuation(tools.normalize_answer(answer))


@REFERENCE_CHECK
@given(answers(), reference_lists())
def test_em_equals_qa_metrics_em_match(prediction, references):
    expected = qa_metrics().em.em_match(references, prediction)
    assert exact_match(prediction, references) == float(expected)


@REFERENCE_CHECK
@given(answers(), answers())
def test_f1_equals_qa_metrics_f1_with_the_same_lemmas(prediction, reference):
    with qa_metrics_f1_without_nltk_data(lemma) as f1_score:
        expected = f1_score(reference, prediction)
    assert token_f1(prediction, [reference]) == pytest.approx(expected, abs=1e-12)


@REFERENCE_CHECK
@given(answers())
def test_tokens_equal_nltks_word_tokenize_on_normalised_text(answer):
    reference_package("nltk")
    from nltk.tokenize import NLTKWordTokenizer

    text = normalize_for_f1(answer)
    assert tokenize(text) == NLTKWordTokenizer().tokenize(text)
