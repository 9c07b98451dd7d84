"""The ``score`` step: answer metrics per (dataset, method), bootstrap intervals, gains over base.

Input is the ``predictions.jsonl`` written by ``answer`` (one :class:`Prediction` per line, one
line per sample x method x model). Output is a :class:`ScoreReport`:

* one row per (dataset, method): the mean of every metric of the report's scoring protocols
  (:mod:`vea_augment.steps.score_protocols`: by default the paper's EM and F1, strict EM and
  F1, ANLS, VQA accuracy where every sample has ten references, relaxed accuracy on chart
  datasets), keyed ``<protocol>.<metric>``, each with a percentile-bootstrap 95 % interval;
* for every non-base method, the gain over ``base`` on the samples both answered (paired by id),
  with a paired-bootstrap 95 % interval, and the wins/losses on the decision metric (the
  paper's EM by default);
* per dataset, the "seeing but not believing" split: mean attribution AUROC of the base
  method's samples, separated by whether base got full credit on the decision metric.

Policies (the report and :func:`write_score_report` name them):

* a prediction with status ``error`` scores 0 on every metric and is counted in ``errors``;
* a prediction without references cannot be scored: it is excluded from every metric, every
  count (``n``, ``errors``), the pairing and the seeing-not-believing split, and is reported as
  excluded (log warning and the Markdown report) rather than silently dropped;
* unreadable lines of the JSONL (bad JSON, failing validation, a truncated last line) are skipped
  and listed with their line number and reason; blank lines are ignored;
* when the same (dataset, id, method, model) appears twice, the later line wins.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

import numpy as np

from vea_augment._version import __version__
from vea_augment.data.predictions_file import read_predictions as read_prediction_lines
from vea_augment.errors import ConfigError
from vea_augment.options import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED
from vea_augment.schemas.prediction import Method, Prediction
from vea_augment.schemas.report import Interval, MethodScores, ScoreReport, SeeingNotBelieving
from vea_augment.steps.score_protocols import (
    DEFAULT_DECISION_METRIC,
    ScoringPlan,
    sample_scores,
    scoring_plan,
)

logger = logging.getLogger(__name__)

BASE_METHOD = "base"
DEFAULT_DATASET = "default"
METHOD_ORDER: tuple[str, ...] = get_args(Method)
"""Row order within a dataset: base first, then the VEA variants as the contract lists them."""

CONFIDENCE_PERCENTILES = (2.5, 97.5)
NO_REFERENCES_POLICY = "a prediction without references is excluded from every metric and count"
_BOOTSTRAP_CELLS_PER_CHUNK = 2_000_000
"""Upper bound on resample-index cells drawn at once, so large files bootstrap in bounded memory."""

GroupKey = tuple[str, str]
"""(dataset label, method)."""


# --------------------------------------------------------------------------------------------
# Reading predictions.jsonl


@dataclass(frozen=True)
class MalformedLine:
    """A line of predictions.jsonl that was skipped: its 1-based number and why."""

    line: int
    reason: str


@dataclass(frozen=True)
class LoadedPredictions:
    """The valid, de-duplicated predictions of a file and what was skipped on the way."""

    predictions: list[Prediction]
    malformed_lines: list[MalformedLine] = field(default_factory=list)
    duplicates_replaced: int = 0


def _dedup_key(prediction: Prediction) -> tuple[str, str, str, str]:
    """(dataset, id, method, model); a missing dataset is the default one."""
    dataset = prediction.dataset if prediction.dataset is not None else DEFAULT_DATASET
    return (dataset, prediction.id, prediction.method, prediction.model)


def read_predictions(path: Path) -> LoadedPredictions:
    """Read and validate ``predictions.jsonl`` leniently.

    Promises: never fails on a bad line (it is skipped and listed in ``malformed_lines``); the
    later of two lines with the same (dataset, id, method, model) wins; raises
    :class:`ConfigError` when the file cannot be read or holds no valid prediction at all.
    """
    if not Path(path).is_file():
        raise ConfigError(f"predictions file {str(path)!r} does not exist")
    try:
        lines = read_prediction_lines(Path(path))
    except OSError as exc:
        raise ConfigError(f"cannot read predictions file {str(path)!r}: {exc}") from exc
    latest: dict[tuple[str, str, str, str], Prediction] = {}
    malformed = [MalformedLine(number, reason) for number, reason in lines.malformed]
    replaced = 0
    for prediction in lines.predictions:
        key = _dedup_key(prediction)
        replaced += key in latest
        latest.pop(key, None)
        latest[key] = prediction
    if not latest:
        first = malformed[0] if malformed else None
        detail = (
            f"; {len(malformed)} malformed line(s), first: line {first.line}: {first.reason}"
            if first is not None
            else ""
        )
        raise ConfigError(f"predictions file {str(path)!r} holds no valid prediction{detail}")
    return LoadedPredictions(list(latest.values()), malformed, replaced)


# --------------------------------------------------------------------------------------------
# Bootstrap intervals


def _bootstrap_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Means of ``resamples`` resamples (with replacement) of ``values``, in bounded memory."""
    rng = np.random.default_rng(seed)
    n = values.size
    rows_per_chunk = max(1, _BOOTSTRAP_CELLS_PER_CHUNK // n)
    means = np.empty(resamples, dtype=np.float64)
    for start in range(0, resamples, rows_per_chunk):
        stop = min(resamples, start + rows_per_chunk)
        indices = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[indices].mean(axis=1)
    return means


def bootstrap_interval(values: Sequence[float] | np.ndarray, resamples: int, seed: int) -> Interval:
    """Mean of ``values`` with its percentile-bootstrap 95 % interval.

    Promises: ``value`` is the plain mean; ``low``/``high`` are the 2.5th and 97.5th percentiles
    of ``resamples`` resampled means drawn with ``numpy.random.default_rng(seed)`` (a fresh
    generator per call, so an interval depends only on its own values, resamples and seed).
    All fields are None for no values; low/high are None when ``resamples`` is 0. For paired
    differences pass the per-sample differences: that is the paired bootstrap.
    """
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size == 0:
        return Interval(value=None)
    value = float(array.mean())
    if resamples <= 0:
        return Interval(value=value)
    low, high = np.percentile(_bootstrap_means(array, resamples, seed), CONFIDENCE_PERCENTILES)
    return Interval(value=value, low=float(low), high=float(high))


# --------------------------------------------------------------------------------------------
# Grouping


def has_references(prediction: Prediction) -> bool:
    """Whether the prediction can be scored (it has at least one reference answer)."""
    return bool(prediction.references)


def dataset_label(prediction: Prediction, several_models: bool) -> str:
    """The dataset column of a row: the dataset (or "default"), prefixed "model/" if needed."""
    dataset = prediction.dataset if prediction.dataset is not None else DEFAULT_DATASET
    return f"{prediction.model}/{dataset}" if several_models else dataset


def group_predictions(predictions: Iterable[Prediction]) -> dict[GroupKey, list[Prediction]]:
    """Scorable predictions grouped by (dataset label, method), in report order.

    Promises: predictions without references are left out; datasets are sorted by label and
    methods follow :data:`METHOD_ORDER`; the model enters the label only when the predictions
    come from more than one model.
    """
    scorable = [p for p in predictions if has_references(p)]
    several_models = len({p.model for p in scorable}) > 1
    groups: dict[GroupKey, list[Prediction]] = {}
    for prediction in scorable:
        key = (dataset_label(prediction, several_models), prediction.method)
        groups.setdefault(key, []).append(prediction)
    return dict(sorted(groups.items(), key=lambda item: _group_order(item[0])))


def _group_order(key: GroupKey) -> tuple[str, int, str]:
    dataset, method = key
    rank = METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)
    return (dataset, rank, method)


@dataclass(frozen=True)
class ScoredGroup:
    """The per-sample scores of one (dataset, method) group, keyed by sample id."""

    dataset: str
    method: str
    scores: dict[str, dict[str, float]]
    errors: int
    metrics: tuple[str, ...]
    """The metric ids every sample was scored on, in protocol order."""

    def column(self, metric: str, ids: Sequence[str] | None = None) -> np.ndarray:
        """Scores of ``metric`` for ``ids`` (default: every sample, in insertion order)."""
        chosen = self.scores.keys() if ids is None else ids
        return np.array([self.scores[i][metric] for i in chosen], dtype=np.float64)


def score_group(
    dataset: str, method: str, predictions: Sequence[Prediction], metrics: Sequence[str]
) -> ScoredGroup:
    """Per-sample scores of one group on ``metrics`` (metric ids)."""
    scores = {p.id: sample_scores(p, metrics) for p in predictions}
    errors = sum(p.status == "error" for p in predictions)
    return ScoredGroup(dataset, method, scores, errors, tuple(metrics))


def dataset_metrics(
    groups: dict[GroupKey, list[Prediction]], plan: ScoringPlan
) -> dict[str, tuple[str, ...]]:
    """Dataset label -> the metric ids its rows show, decided on all its methods' references
    together so that every row of a dataset has the same columns."""
    references: dict[str, list[list[str]]] = {}
    for (dataset, _), members in groups.items():
        references.setdefault(dataset, []).extend(p.references for p in members)
    return {dataset: plan.metrics_for(dataset, refs) for dataset, refs in references.items()}


# --------------------------------------------------------------------------------------------
# Rows


def _paired(group: ScoredGroup, base: ScoredGroup) -> list[str]:
    return [i for i in group.scores if i in base.scores]


def _gains(group: ScoredGroup, base: ScoredGroup, resamples: int, seed: int) -> dict[str, Interval]:
    """metric -> mean(group) - mean(base) over the ids both answered, paired-bootstrap CI."""
    paired = _paired(group, base)
    return {
        metric: bootstrap_interval(
            group.column(metric, paired) - base.column(metric, paired), resamples, seed
        )
        for metric in group.metrics
        if metric in base.metrics
    }


def _wins_losses(group: ScoredGroup, base: ScoredGroup, decision: str) -> tuple[int, int]:
    """(samples scoring higher here than under base, samples scoring lower), paired ids."""
    paired = _paired(group, base)
    here, there = group.column(decision, paired), base.column(decision, paired)
    return int(np.sum(here > there)), int(np.sum(here < there))


def _comparison(
    group: ScoredGroup, base: ScoredGroup | None, decision: str, resamples: int, seed: int
) -> dict[str, object]:
    """The gain/wins/losses fields of a row: empty for base itself or without a base row;
    no wins/losses where the decision metric is not computed."""
    if base is None or group.method == BASE_METHOD:
        return {}
    fields: dict[str, object] = {"gain_over_base": _gains(group, base, resamples, seed)}
    if decision in group.metrics and decision in base.metrics:
        fields["wins"], fields["losses"] = _wins_losses(group, base, decision)
    return fields


def method_row(
    group: ScoredGroup,
    base: ScoredGroup | None,
    resamples: int,
    seed: int,
    decision: str = DEFAULT_DECISION_METRIC,
) -> MethodScores:
    """The report row of one group; gains and wins/losses only for a non-base method with a base."""
    return MethodScores(
        dataset=group.dataset,
        method=group.method,
        n=len(group.scores),
        errors=group.errors,
        scores={
            metric: bootstrap_interval(group.column(metric), resamples, seed)
            for metric in group.metrics
        },
        **_comparison(group, base, decision, resamples, seed),
    )


def seeing_not_believing(
    dataset: str,
    base_predictions: Sequence[Prediction],
    base: ScoredGroup,
    decision: str = DEFAULT_DECISION_METRIC,
) -> SeeingNotBelieving | None:
    """Mean AUROC of the base samples split by full credit on ``decision``; None if no sample
    has an AUROC or the decision metric is not computed on the dataset.

    Non-finite AUROCs count as missing. An error prediction counts as wrong (it scores 0).
    """
    if decision not in base.metrics:
        return None
    right: list[float] = []
    wrong: list[float] = []
    without = 0
    for prediction in base_predictions:
        value = prediction.attribution_auroc
        if value is None or not math.isfinite(value):
            without += 1
            continue
        correct = base.scores[prediction.id][decision] == 1.0
        (right if correct else wrong).append(value)
    if not right and not wrong:
        return None
    return SeeingNotBelieving(
        dataset=dataset,
        auroc_when_base_right=float(np.mean(right)) if right else None,
        auroc_when_base_wrong=float(np.mean(wrong)) if wrong else None,
        n_right=len(right),
        n_wrong=len(wrong),
        n_without_auroc=without,
    )


def score_predictions(
    predictions: Sequence[Prediction],
    predictions_label: str,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    protocols: str | Sequence[str] | None = None,
) -> ScoreReport:
    """Score de-duplicated predictions into a :class:`ScoreReport`.

    Promises: one row per (dataset label, method) in :func:`group_predictions` order, with the
    metrics of ``protocols`` (None: the defaults, each where it applies; see
    :mod:`vea_augment.steps.score_protocols`); the base row has empty gains and no
    wins/losses; a non-base row of a dataset without a base row has empty gains too; a
    seeing-not-believing entry exists for every dataset whose base predictions carry at least
    one AUROC and are scored on the decision metric. ``predictions_label`` is stored as
    ``predictions``. Raises :class:`ConfigError` for an unknown protocol or negative resamples.
    """
    if resamples < 0:
        raise ConfigError(f"bootstrap resamples must be >= 0, got {resamples}")
    plan = scoring_plan(protocols)
    decision = plan.decision_metric
    groups = group_predictions(predictions)
    metrics = dataset_metrics(groups, plan)
    scored = {key: score_group(*key, members, metrics[key[0]]) for key, members in groups.items()}
    rows = [
        method_row(group, scored.get((group.dataset, BASE_METHOD)), resamples, seed, decision)
        for group in scored.values()
    ]
    split = [
        seeing_not_believing(dataset, members, scored[(dataset, method)], decision)
        for (dataset, method), members in groups.items()
        if method == BASE_METHOD
    ]
    return ScoreReport(
        protocols=plan.describe(metric for shown in metrics.values() for metric in shown),
        decision_metric=decision,
        prompt=None,
        predictions=predictions_label,
        bootstrap_resamples=resamples,
        seed=seed,
        rows=rows,
        seeing_not_believing=[entry for entry in split if entry is not None],
        tool_version=__version__,
    )
