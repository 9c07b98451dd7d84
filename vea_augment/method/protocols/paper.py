"""``paper``: the EM and F1 of the paper's release, as qa-metrics 0.2.42 computes them.

The paper (arXiv 2510.17771) scores answers with ``qa_metrics.em.em_match`` and qa-metrics'
F1. Both are lenient where SQuAD is strict:

* **EM is containment**: an answer is right when a normalised reference is a *substring* of
  the normalised prediction ("15 apples" vs "5" is right, so is "Nokia phone" vs "nokia").
  A reference that normalises to nothing (``"the"``, ``"?"``) is contained in every
  prediction; an empty prediction is always wrong.
* **F1 is set-based with lemmas**: precision and recall over the *sets* of lemmatised
  tokens (a repeated word counts once), best reference; two empty answers score 0.

Normaliser (qa-metrics ``normalize_answer`` then ``remove_punctuation``): lower-case; delete
every Unicode punctuation character (P*); squash spaces; delete ASCII ``string.punctuation``
(the symbols ``$+<=>^`|~`` survive the first step); delete the articles a/an/the as whole
words (word characters as the ``regex`` module counts them: letters, marks, decimal digits);
squash spaces. F1 uses the same normaliser, then :mod:`~vea_augment.method.protocols.lemmas`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from vea_augment.method.protocols.lemmas import LEMMA_SOURCE, lemmatize
from vea_augment.method.protocols.text import (
    ASCII_PUNCTUATION,
    is_punctuation,
    overlap_f1,
    require_references,
    squash_spaces,
)
from vea_augment.method.protocols.types import Metric, Protocol

NORMALIZER = (
    "qa-metrics 0.2.42: lowercase, strip Unicode punctuation (P*) and ASCII "
    "string.punctuation, strip articles (a/an/the), squash spaces"
)

ARTICLES = frozenset({"a", "an", "the"})
_WORD_CATEGORIES = frozenset({"Mn", "Mc", "Me", "Nd", "Nl", "Pc"})
_JOINERS = frozenset({"\u200c", "\u200d"})
_ALPHABETIC_SYMBOLS = ((0x24B6, 0x24E9), (0x1F130, 0x1F149), (0x1F150, 0x1F169), (0x1F170, 0x1F189))
"""Circled, parenthesised and squared letters: symbols that Unicode counts as alphabetic."""


def is_word_char(char: str) -> bool:
    """``\\w`` of the ``regex`` module, which qa-metrics uses: alphabetic, mark, decimal
    digit, connector punctuation, joiner (unlike ``re``, marks count and ``²`` does not)."""
    if char.isalpha() or char in _JOINERS or unicodedata.category(char) in _WORD_CATEGORIES:
        return True
    codepoint = ord(char)
    return any(low <= codepoint <= high for low, high in _ALPHABETIC_SYMBOLS)


def drop_articles(text: str) -> str:
    """Replace every whole word a/an/the by a space (``regex.sub(r"\\b(a|an|the)\\b", " ")``)."""
    pieces: list[str] = []
    word: list[str] = []
    for char in text:
        if is_word_char(char):
            word.append(char)
            continue
        if word:
            pieces.append(" " if "".join(word) in ARTICLES else "".join(word))
            word = []
        pieces.append(char)
    if word:
        pieces.append(" " if "".join(word) in ARTICLES else "".join(word))
    return "".join(pieces)


def _clean(text: str) -> str:
    """qa-metrics ``fix_answer``/``remove_punctuation``: ASCII punctuation, articles, spaces."""
    kept = "".join(char for char in text.lower() if char not in ASCII_PUNCTUATION)
    return squash_spaces(drop_articles(kept))


def normalize_for_f1(text: str) -> str:
    """qa-metrics ``normalize_answer``: what its F1 lemmatises."""
    lowered = text.lower()
    without_punctuation = "".join(char for char in lowered if not is_punctuation(char))
    cleaned = _clean(squash_spaces(without_punctuation))
    return cleaned.strip().replace("\u2019", "'").lower()


def normalize(text: str) -> str:
    """qa-metrics ``remove_punctuation(normalize_answer(text))``: what its EM compares."""
    return _clean(normalize_for_f1(text))


def exact_match(prediction: str, references: Sequence[str]) -> float:
    """1.0 when some normalised reference is contained in the normalised prediction."""
    require_references(references)
    if not prediction:
        return 0.0
    predicted = normalize(prediction)
    return float(any(normalize(reference) in predicted for reference in references))


def _set_f1(reference_words: set[str], predicted_words: set[str]) -> float:
    shared = len(reference_words & predicted_words)
    return overlap_f1(shared, len(predicted_words), len(reference_words))


def token_f1(prediction: str, references: Sequence[str]) -> float:
    """Set-based F1 of lemmatised tokens against the best reference (qa-metrics ``f1_score``)."""
    require_references(references)
    predicted = set(lemmatize(normalize_for_f1(prediction)))
    return max(_set_f1(set(lemmatize(normalize_for_f1(ref))), predicted) for ref in references)


PROTOCOL = Protocol(
    name="paper",
    normalizer=NORMALIZER,
    definition="EM: a normalised reference is contained in the normalised prediction "
    "(qa_metrics.em.em_match); F1: set-based F1 of lemmatised tokens, best reference",
    reference=f"qa-metrics 0.2.42 em_match and f1_score; lemmas: {LEMMA_SOURCE}",
    normalize=normalize,
    metrics=(
        Metric("exact_match", "EM paper", exact_match),
        Metric("token_f1", "F1 paper", token_f1),
    ),
)
