"""``relaxed``: ChartQA's relaxed accuracy (Masry et al. 2022, after Methani et al. 2020).

A numeric answer is right when it lies within :data:`TOLERANCE` (5 %) of a numeric
reference, |prediction - reference| / |reference| <= 5 %; any other answer needs an exact
match after normalisation. This is ``relaxed_correctness`` of pix2struct, Qwen-VL and
lmms-eval, with the number reading ChartQA users add:

* normaliser: Unicode punctuation folded to ASCII, lower-case, whitespace squashed;
* a number is an optional sign, digits (thousands may be grouped by commas, ``1,234.5``),
  an optional fraction and exponent, and an optional ``%``: a percentage is divided by 100
  as the reference implementation does, so "45%" matches "0.45" and not "45";
* a reference of 0 needs a prediction of exactly 0 (the reference implementation falls
  back to comparing the strings there, so "0.0" would miss "0");
* ``nan`` and ``inf`` are words, not numbers.

Shown by default on datasets whose name contains "chart" (ChartQA, PlotQA-style charts);
``--protocols relaxed`` computes it everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from vea_augment.method.protocols.text import fold_punctuation, require_references, squash_spaces
from vea_augment.method.protocols.types import Metric, Protocol

TOLERANCE = 0.05
"""Largest relative difference from the reference that still counts as right."""
DATASET_HINT = "chart"
NORMALIZER = "chartqa: Unicode punctuation to ASCII, lowercase, squash spaces; numbers read"

_NUMBER = re.compile(
    r"(?P<sign>[+-]?)"
    r"(?P<digits>\d{1,3}(?:,\d{3})+|\d+)?"
    r"(?P<fraction>\.\d*)?"
    r"(?P<exponent>e[+-]?\d+)?"
    r"\s?(?P<percent>%)?"
)


def normalize(text: str) -> str:
    """Punctuation folded to ASCII, lower-cased, whitespace squashed."""
    return squash_spaces(fold_punctuation(text).lower())


def parse_number(text: str) -> float | None:
    """The value of a normalised answer that is a number (``45%`` is 0.45), else None."""
    match = _NUMBER.fullmatch(text)
    if match is None or not (match["digits"] or (match["fraction"] or "")[1:]):
        return None
    literal = (match["digits"] or "").replace(",", "") + (match["fraction"] or "")
    value = float(match["sign"] + literal + (match["exponent"] or ""))
    return value / 100.0 if match["percent"] else value


def _correct(prediction: str, reference: str, tolerance: float) -> bool:
    predicted, target = parse_number(prediction), parse_number(reference)
    if predicted is not None and target is not None:
        if target == 0.0:
            return predicted == 0.0
        return abs(predicted - target) / abs(target) <= tolerance
    return prediction == reference


def relaxed_accuracy(
    prediction: str, references: Sequence[str], tolerance: float = TOLERANCE
) -> float:
    """1.0 when the prediction is right against some reference (see the module), else 0.0."""
    require_references(references)
    if tolerance < 0.0:
        raise ValueError(f"relaxed-accuracy tolerance must be >= 0, got {tolerance}")
    predicted = normalize(prediction)
    return float(any(_correct(predicted, normalize(ref), tolerance) for ref in references))


def on_charts(dataset: str, references: Sequence[Sequence[str]]) -> bool:
    """Whether the dataset is a chart dataset by name (contains :data:`DATASET_HINT`)."""
    return DATASET_HINT in dataset.lower()


PROTOCOL = Protocol(
    name="relaxed",
    normalizer=NORMALIZER,
    definition=f"numbers within {TOLERANCE:.0%} relative difference of a reference, "
    "other answers exact after normalisation",
    reference="ChartQA relaxed accuracy (pix2struct / Qwen-VL / lmms-eval relaxed_correctness)",
    normalize=normalize,
    metrics=(Metric("accuracy", "relaxed acc", relaxed_accuracy),),
    applies=on_charts,
)
