"""Answer-correctness metrics by their long-standing names, each from its named protocol.

Every metric compares one prediction with a list of reference answers. Published numbers for
the same model move by tens of points on answer normalisation alone (docs/ARCHITECTURE.md,
"Data and metrics"), so each metric belongs to a protocol of
:mod:`vea_augment.method.protocols`, which names its normaliser:

* :func:`exact_match` and :func:`token_f1` are the ``strict`` protocol (SQuAD v1.1:
  equality after :func:`normalize_answer`, count-based token F1), *not* the paper's
  containment EM -- that is ``vea_augment.method.protocols.paper.exact_match``;
* :func:`anls` is the ``anls`` protocol (τ = 0.5, strict);
* :func:`vqa_accuracy` is the ``vqa`` protocol (EvalAI answer processor, leave-one-out).

:data:`NORMALIZER_NAME` names :func:`normalize_answer`, the ``strict`` normaliser.
"""

from __future__ import annotations

from vea_augment.method.protocols.anls import THRESHOLD as ANLS_THRESHOLD
from vea_augment.method.protocols.anls import anls
from vea_augment.method.protocols.strict import NORMALIZER as NORMALIZER_NAME
from vea_augment.method.protocols.strict import exact_match, token_f1
from vea_augment.method.protocols.strict import normalize as _strict_normalize
from vea_augment.method.protocols.text import levenshtein
from vea_augment.method.protocols.vqa import MATCHES_FOR_FULL_CREDIT as VQA_MATCHES_FOR_FULL_CREDIT
from vea_augment.method.protocols.vqa import vqa_accuracy


def normalize_answer(text: str) -> str:
    """The ``strict`` normaliser: lower-case, drop punctuation (ASCII and Unicode) and the
    articles a/an/the, collapse whitespace (SQuAD v1, see :data:`NORMALIZER_NAME`)."""
    return _strict_normalize(text)


__all__ = [
    "ANLS_THRESHOLD",
    "NORMALIZER_NAME",
    "VQA_MATCHES_FOR_FULL_CREDIT",
    "anls",
    "exact_match",
    "levenshtein",
    "normalize_answer",
    "token_f1",
    "vqa_accuracy",
]
