"""``anls``: Average Normalised Levenshtein Similarity (DocVQA, InfographicVQA, ST-VQA).

Normaliser: Unicode punctuation folded to ASCII, lower-case, whitespace squashed. Per
reference, NL = edit distance / length of the longer normalised string; the score is
1 - NL when NL < τ (strictly, τ = :data:`THRESHOLD`), else 0; the best reference wins. Two
empty strings score 1 rather than dividing by zero.

Against lmms-eval's ``anls`` (from Qwen-VL's InfographicVQA script) this differs on two
edges the tests pin: lmms-eval keeps the score at NL = τ exactly (``score < τ`` becomes 0),
and it divides by the length of the *raw* strings, before whitespace is squashed.
"""

from __future__ import annotations

from collections.abc import Sequence

from vea_augment.method.protocols.text import (
    fold_punctuation,
    levenshtein,
    require_references,
    squash_spaces,
)
from vea_augment.method.protocols.types import Metric, Protocol

THRESHOLD = 0.5
"""τ: a normalised distance at or above it scores 0 (the DocVQA challenge's value)."""
NORMALIZER = "anls: Unicode punctuation to ASCII, lowercase, squash spaces"


def normalize(text: str) -> str:
    """Punctuation folded to ASCII, lower-cased, whitespace squashed."""
    return squash_spaces(fold_punctuation(text).lower())


def anls(prediction: str, references: Sequence[str], threshold: float = THRESHOLD) -> float:
    """ANLS of one question: the best 1 - NL over the references, 0 where NL >= τ."""
    require_references(references)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"ANLS threshold must lie in [0, 1], got {threshold}")
    predicted = normalize(prediction)
    best = 0.0
    for reference in references:
        target = normalize(reference)
        longest = max(len(predicted), len(target))
        if longest == 0:
            return 1.0
        distance = levenshtein(predicted, target) / longest
        if distance < threshold:
            best = max(best, 1.0 - distance)
    return best


PROTOCOL = Protocol(
    name="anls",
    normalizer=NORMALIZER,
    definition=f"best over references of 1 - edit distance / longer length, 0 at NL >= {THRESHOLD}",
    reference="DocVQA ANLS (Biten et al. 2019); lmms-eval 0.7.3 anls",
    normalize=normalize,
    metrics=(Metric("anls", "ANLS", anls),),
)
