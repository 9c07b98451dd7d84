"""Attribution quality: how well per-token scores rank the tokens inside the evidence boxes.

Per-sample AUROC, NDCG over all tokens and AUPRC (average precision) with binary labels from
:func:`vea_augment.method.labels.evidence_labels`. Tied scores are handled the way
scikit-learn handles them, so these numbers match ``roc_auc_score``, ``ndcg_score`` and
``average_precision_score``. A sample whose labels are all equal has no ranking to judge: it
yields NaN and :func:`nan_excluding_mean` leaves it out and counts it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from vea_augment.errors import InvalidScoresError


def _checked(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flat_scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    flat_labels = np.asarray(labels).reshape(-1)
    if flat_scores.shape != flat_labels.shape:
        raise InvalidScoresError(
            f"{flat_scores.size} scores but {flat_labels.size} labels; they must pair one to one"
        )
    if not np.all(np.isfinite(flat_scores)):
        raise InvalidScoresError("scores contain NaN or infinite values")
    if not np.all((flat_labels == 0) | (flat_labels == 1)):
        raise InvalidScoresError("labels must be binary (0/1 or False/True)")
    return flat_scores, flat_labels.astype(bool)


def _degenerate(labels: np.ndarray) -> bool:
    return labels.size == 0 or bool(labels.all()) or not bool(labels.any())


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve via the Mann-Whitney U statistic with mid-ranks for ties.

    Equals the probability that a random evidence token outscores a random other token, ties
    counting one half. NaN when all labels are equal.
    """
    flat_scores, positive = _checked(scores, labels)
    if _degenerate(positive):
        return math.nan
    ranks = rankdata(flat_scores, method="average")
    n_positive = int(positive.sum())
    n_negative = positive.size - n_positive
    u_statistic = ranks[positive].sum() - n_positive * (n_positive + 1) / 2
    return float(u_statistic / (n_positive * n_negative))


def _tie_averaged_dcg(gains: np.ndarray, scores: np.ndarray) -> float:
    """DCG ranking by descending score, tied tokens sharing the mean gain of their group."""
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    sorted_gains = gains[order]
    discounts = 1.0 / np.log2(np.arange(scores.size) + 2.0)
    group_starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    group_sizes = np.diff(np.r_[group_starts, scores.size])
    # One sum per tie group, vectorised: a pixel mask has tens of thousands of groups.
    gain_sums = np.add.reduceat(sorted_gains, group_starts)
    discount_sums = np.add.reduceat(discounts, group_starts)
    return float(np.sum(gain_sums / group_sizes * discount_sums))


def ndcg(scores: np.ndarray, labels: np.ndarray) -> float:
    """Normalised DCG over all tokens (NDCG@all), binary gains, log2 discount.

    Tied scores share their group's mean gain (scikit-learn's ``ignore_ties=False``). NaN when
    all labels are equal.
    """
    flat_scores, positive = _checked(scores, labels)
    if _degenerate(positive):
        return math.nan
    gains = positive.astype(np.float64)
    ideal = _tie_averaged_dcg(gains, gains)
    return float(_tie_averaged_dcg(gains, flat_scores) / ideal)


def auprc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision.

    AP = Σ_n (R_n − R_{n−1}) · P_n over distinct score thresholds, descending, so tied tokens
    enter together (scikit-learn's ``average_precision_score``). NaN when all labels are equal.
    """
    flat_scores, positive = _checked(scores, labels)
    if _degenerate(positive):
        return math.nan
    order = np.argsort(-flat_scores, kind="stable")
    sorted_scores = flat_scores[order]
    true_positives = np.cumsum(positive[order])
    last_of_each_score = np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1])
    threshold_ends = np.r_[last_of_each_score, positive.size - 1]
    tp_at = true_positives[threshold_ends].astype(np.float64)
    precision = tp_at / (threshold_ends + 1)
    recall = tp_at / positive.sum()
    recall_steps = np.diff(np.r_[0.0, recall])
    return float(np.sum(recall_steps * precision))


@dataclass(frozen=True)
class MeanSummary:
    """A mean over samples that skipped the NaN ones and says how many it skipped."""

    mean: float
    std: float
    n_used: int
    n_excluded: int


def nan_excluding_mean(values: list[float] | np.ndarray) -> MeanSummary:
    """Mean and population std of the finite values; NaN entries are counted as excluded."""
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    finite = array[~np.isnan(array)]
    excluded = int(array.size - finite.size)
    if finite.size == 0:
        return MeanSummary(math.nan, math.nan, 0, excluded)
    return MeanSummary(float(finite.mean()), float(finite.std()), int(finite.size), excluded)
