"""Answer-correctness metrics: exact match, token F1, ANLS and VQA accuracy.

Every metric compares one prediction with a list of reference answers. Published numbers for
the same model move by tens of points on answer normalisation alone (DESIGN.md, "Data and
metrics"), so the normaliser is named (:data:`NORMALIZER_NAME`) and every report carries it.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from itertools import combinations

NORMALIZER_NAME = "squad-v1: lowercase, strip punctuation and articles (a/an/the), squash spaces"
ANLS_THRESHOLD = 0.5
VQA_MATCHES_FOR_FULL_CREDIT = 3

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and English articles, collapse whitespace (SQuAD v1)."""
    lowered = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", lowered).split())


def _require_references(references: Sequence[str], minimum: int = 1) -> None:
    if isinstance(references, str):
        raise TypeError("references must be a sequence of strings, not one string")
    if len(references) < minimum:
        raise ValueError(f"need at least {minimum} reference answer(s), got {len(references)}")


def exact_match(prediction: str, references: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals any normalised reference, else 0.0."""
    _require_references(references)
    predicted = normalize_answer(prediction)
    return float(any(predicted == normalize_answer(ref) for ref in references))


def _token_f1_single(prediction: str, reference: str) -> float:
    predicted_tokens = normalize_answer(prediction).split()
    reference_tokens = normalize_answer(reference).split()
    if not predicted_tokens or not reference_tokens:
        # Two empty answers agree perfectly; one empty answer shares nothing.
        return float(predicted_tokens == reference_tokens)
    shared = sum((Counter(predicted_tokens) & Counter(reference_tokens)).values())
    if shared == 0:
        return 0.0
    precision = shared / len(predicted_tokens)
    recall = shared / len(reference_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, references: Sequence[str]) -> float:
    """Bag-of-tokens F1 between normalised answers, against the best-matching reference."""
    _require_references(references)
    return max(_token_f1_single(prediction, ref) for ref in references)


def levenshtein(left: str, right: str) -> int:
    """Edit distance with unit insert, delete and substitute costs."""
    if len(left) < len(right):
        left, right = right, left
    previous = list(range(len(right) + 1))
    for i, left_char in enumerate(left, start=1):
        current = [i]
        for j, right_char in enumerate(right, start=1):
            current.append(
                min(
                    previous[j] + 1,
                    current[j - 1] + 1,
                    previous[j - 1] + (left_char != right_char),
                )
            )
        previous = current
    return previous[-1]


def anls(prediction: str, references: Sequence[str], threshold: float = ANLS_THRESHOLD) -> float:
    """Average Normalised Levenshtein Similarity for one question (DocVQA/ST-VQA).

    Compares lower-cased, whitespace-trimmed strings: s = 1 - NL, where NL is the edit distance
    over the longer length; s is kept only when NL < τ (strict), else 0; the best reference wins.
    Two empty strings score 1 rather than dividing by zero.
    """
    _require_references(references)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"ANLS threshold must lie in [0, 1], got {threshold}")
    predicted = " ".join(prediction.lower().split())
    best = 0.0
    for reference in references:
        target = " ".join(reference.lower().split())
        longest = max(len(predicted), len(target))
        if longest == 0:
            return 1.0
        distance = levenshtein(predicted, target) / longest
        if distance < threshold:
            best = max(best, 1.0 - distance)
    return best


def vqa_accuracy(prediction: str, references: Sequence[str]) -> float:
    """Official VQA accuracy: min(#matches / 3, 1), averaged over the leave-one-out subsets.

    With the usual ten human answers this is the mean over the ten subsets of nine. At least two
    references are needed for a leave-one-out subset to exist.
    """
    _require_references(references, minimum=2)
    predicted = normalize_answer(prediction)
    matches = [predicted == normalize_answer(ref) for ref in references]
    subsets = list(combinations(range(len(matches)), len(matches) - 1))
    credit = [
        min(sum(matches[i] for i in subset) / VQA_MATCHES_FOR_FULL_CREDIT, 1.0)
        for subset in subsets
    ]
    return sum(credit) / len(credit)
