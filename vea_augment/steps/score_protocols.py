"""Which scoring protocols a score report computes where, and one prediction's scores.

By default (no protocols chosen) the report computes :data:`~vea_augment.options.
SCORE_PROTOCOLS`, each on the datasets where it applies (``vqa`` where every sample has ten
references, ``relaxed`` on chart datasets). Protocols chosen by name are computed on every
dataset where their metrics are defined (``vqa`` needs two references per sample). Either
way the first protocol's headline metric -- the paper's EM by default -- is the *decision
metric*: it decides wins/losses, the chart and the seeing-not-believing split.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vea_augment.method.protocols import PROTOCOLS, Protocol, metric_lookup, parse_protocols
from vea_augment.options import SCORE_PROTOCOLS
from vea_augment.schemas.prediction import Prediction
from vea_augment.schemas.report import ProtocolInfo

_EVERY_METRIC = metric_lookup(list(PROTOCOLS.values()))


@dataclass(frozen=True)
class ScoringPlan:
    """The protocols of a report, in order, and whether the user chose them by name."""

    protocols: tuple[Protocol, ...]
    chosen: bool = False

    @property
    def decision_metric(self) -> str:
        """The first protocol's headline metric id (``paper.exact_match`` by default)."""
        return self.protocols[0].primary

    def metrics_for(self, dataset: str, references: Sequence[Sequence[str]]) -> tuple[str, ...]:
        """The metric ids computed on a dataset whose samples carry ``references``."""
        return tuple(
            metric_id
            for protocol in self.protocols
            if protocol.defined_for(references)
            and (self.chosen or protocol.applies(dataset, references))
            for metric_id in protocol.metric_ids
        )

    def describe(self, shown: Iterable[str]) -> list[ProtocolInfo]:
        """The report's description of every protocol with a metric among ``shown``."""
        present = set(shown)
        return [
            ProtocolInfo(
                name=protocol.name,
                normalizer=protocol.normalizer,
                definition=protocol.definition,
                reference=protocol.reference,
                metrics={protocol.metric_id(metric): metric.label for metric in protocol.metrics},
            )
            for protocol in self.protocols
            if present & set(protocol.metric_ids)
        ]


def scoring_plan(protocols: str | Sequence[str] | None = None) -> ScoringPlan:
    """The plan for ``protocols`` (``"paper,strict"`` or names); None: the defaults.

    Raises :class:`~vea_augment.errors.ConfigError` on an unknown protocol name.
    """
    if protocols is None:
        return ScoringPlan(tuple(parse_protocols(SCORE_PROTOCOLS)), chosen=False)
    return ScoringPlan(tuple(parse_protocols(protocols)), chosen=True)


def sample_scores(prediction: Prediction, metric_ids: Sequence[str]) -> dict[str, float]:
    """The metrics ``metric_ids`` of one prediction against its references (id -> [0, 1]).

    Promises: an ``error`` prediction scores 0.0 on every metric. The prediction must have as
    many references as each metric's protocol needs.
    """
    if prediction.status == "error" or prediction.prediction is None:
        return dict.fromkeys(metric_ids, 0.0)
    answer, references = prediction.prediction, prediction.references
    return {
        metric_id: _EVERY_METRIC[metric_id][1].score(answer, references) for metric_id in metric_ids
    }


DEFAULT_DECISION_METRIC = scoring_plan().decision_metric
"""``paper.exact_match``: the decision metric of a report whose protocols were not chosen."""
