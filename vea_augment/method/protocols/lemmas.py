"""Tokens and lemmas for the ``paper`` protocol's F1 (qa-metrics' ``lemmatize_text``).

qa-metrics tokenises with NLTK's ``word_tokenize`` and lemmatises each token with WordNet,
choosing the part of speech by tagging the token alone with NLTK's averaged-perceptron
tagger. The tagger and WordNet are data files that NLTK downloads at run time, which cannot
work offline, so this module reproduces the tokeniser exactly and replaces tagger + WordNet
with lemminflect's bundled English lexicon:

* tokens: on text that the paper normaliser has already cleaned (no punctuation is left),
  NLTK's tokeniser does only two things: it splits on whitespace and it splits the
  contractions ``cannot gimme gonna gotta lemme wanna`` into two tokens (``can not``...);
* lemma of a token: the parts of speech lemminflect knows for it are tried in the order
  AUX, NOUN, VERB, ADJ, ADV, and the first whose shortest lemma differs from the token wins
  (WordNet's lemmatiser also returns the shortest lemma); a token lemminflect does not know
  (numbers, names) stays as it is, as it does in WordNet.

Agreements with WordNet the tests pin: plural nouns (apples, boxes, children, mice, leaves,
glasses), verb forms (running, ran, was, is, does, went, gone, written), comparatives
(bigger, better). Known difference: a word that is both a noun and a verb form (building,
painting) becomes the verb's lemma here, where the tagger usually says noun.
"""

from __future__ import annotations

import re
from functools import lru_cache

LEMMA_SOURCE = "lemminflect 0.2.3 lexicon (stands in for NLTK's tagger + WordNet)"
POS_ORDER = ("AUX", "NOUN", "VERB", "ADJ", "ADV")

_CONTRACTIONS = re.compile(
    r"\b(can)(not)\b|\b(gim)(me)\b|\b(gon)(na)\b|\b(got)(ta)\b|\b(lem)(me)\b|\b(wan)(na)(?=\s)",
    re.IGNORECASE,
)


def _split_contraction(match: re.Match[str]) -> str:
    return " " + " ".join(part for part in match.groups() if part) + " "


def tokenize(text: str) -> list[str]:
    """NLTK ``word_tokenize`` on punctuation-free text: whitespace, plus ``can not`` & co."""
    return _CONTRACTIONS.sub(_split_contraction, f" {text} ").split()


@lru_cache(maxsize=1 << 16)
def lemma(token: str) -> str:
    """The token's lemma (see the module docstring for the rule)."""
    from lemminflect import getAllLemmas

    known = getAllLemmas(token)
    for pos in POS_ORDER:
        forms = known.get(pos)
        if forms:
            shortest = min(forms, key=len)
            if shortest != token:
                return shortest
    return token


def lemmatize(text: str) -> list[str]:
    """The lemmas of ``text``'s tokens, as qa-metrics' ``lemmatize_text(...).split()``."""
    return " ".join(lemma(token) for token in tokenize(text)).split()
