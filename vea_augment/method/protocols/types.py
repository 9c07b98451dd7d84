"""What a scoring protocol is: a named normaliser and the metrics computed after it.

A protocol is one published way of deciding whether an answer is right (the paper's
qa-metrics EM, SQuAD's strict EM, the EvalAI VQA accuracy, ANLS, ChartQA's relaxed
accuracy). Each names its normaliser, says in one sentence how its numbers are computed and
whose implementation it reproduces, and says where it applies, so that a report can name the
protocol of every number it shows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

MetricFunction = Callable[[str, Sequence[str]], float]
"""``(prediction, references) -> score in [0, 1]``."""
Applicability = Callable[[str, Sequence[Sequence[str]]], bool]
"""``(dataset name, every sample's references) -> whether the protocol is shown by default``."""


def everywhere(dataset: str, references: Sequence[Sequence[str]]) -> bool:
    """The protocol applies to every dataset."""
    return True


@dataclass(frozen=True)
class Metric:
    """One number a protocol computes per sample: its name, column label and function."""

    name: str
    label: str
    score: MetricFunction


@dataclass(frozen=True)
class Protocol:
    """A named scoring protocol.

    ``normalizer`` describes ``normalize`` in words (the report prints it); ``definition``
    says how the metrics use it; ``reference`` names the implementation reproduced.
    ``min_references`` is the fewest references per sample for which the metrics are
    defined; ``applies`` decides where the protocol is shown when the user did not choose
    the protocols. The first metric is the protocol's headline number.
    """

    name: str
    normalizer: str
    definition: str
    reference: str
    normalize: Callable[[str], str]
    metrics: tuple[Metric, ...]
    min_references: int = 1
    applies: Applicability = everywhere

    def metric_id(self, metric: Metric) -> str:
        """``<protocol>.<metric>``, the key of the metric in a score report."""
        return f"{self.name}.{metric.name}"

    @property
    def metric_ids(self) -> tuple[str, ...]:
        return tuple(self.metric_id(metric) for metric in self.metrics)

    @property
    def primary(self) -> str:
        """The id of the headline metric (the first one)."""
        return self.metric_ids[0]

    def defined_for(self, references: Sequence[Sequence[str]]) -> bool:
        """Whether every sample has enough references for the metrics to be defined."""
        return bool(references) and all(len(refs) >= self.min_references for refs in references)
