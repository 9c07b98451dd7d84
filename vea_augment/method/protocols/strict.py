"""``strict``: SQuAD v1.1's exact match and token F1 (``evaluate-v1.1.py``).

Normaliser: lower-case; delete ASCII punctuation (``string.punctuation``) and every Unicode
punctuation character (P*), where SQuAD deletes only the ASCII ones; delete the articles
a/an/the; squash whitespace. Exact match is equality of the normalised prediction with any
normalised reference; F1 is the bag-of-tokens (count-based) F1 against the best reference.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from vea_augment.method.protocols.text import (
    overlap_f1,
    require_references,
    squash_spaces,
    strip_punctuation,
)
from vea_augment.method.protocols.types import Metric, Protocol

NORMALIZER = (
    "squad-v1: lowercase, strip punctuation (ASCII and Unicode P*) and articles (a/an/the), "
    "squash spaces"
)

_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize(text: str) -> str:
    """Lower-case, drop punctuation and English articles, collapse whitespace (SQuAD v1)."""
    return squash_spaces(_ARTICLES.sub(" ", strip_punctuation(text.lower())))


def exact_match(prediction: str, references: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals any normalised reference, else 0.0."""
    require_references(references)
    predicted = normalize(prediction)
    return float(any(predicted == normalize(reference) for reference in references))


def _f1(predicted_tokens: list[str], reference_tokens: list[str]) -> float:
    if not predicted_tokens or not reference_tokens:
        # Two empty answers agree perfectly; one empty answer shares nothing.
        return float(predicted_tokens == reference_tokens)
    shared = sum((Counter(predicted_tokens) & Counter(reference_tokens)).values())
    return overlap_f1(shared, len(predicted_tokens), len(reference_tokens))


def token_f1(prediction: str, references: Sequence[str]) -> float:
    """Bag-of-tokens F1 between normalised answers, against the best-matching reference."""
    require_references(references)
    predicted = normalize(prediction).split()
    return max(_f1(predicted, normalize(reference).split()) for reference in references)


PROTOCOL = Protocol(
    name="strict",
    normalizer=NORMALIZER,
    definition="EM: normalised prediction equals a normalised reference; F1: SQuAD "
    "count-based token F1, best reference",
    reference="SQuAD v1.1 evaluate-v1.1.py",
    normalize=normalize,
    metrics=(
        Metric("exact_match", "EM strict", exact_match),
        Metric("token_f1", "F1 strict", token_f1),
    ),
)
