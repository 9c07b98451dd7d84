"""The score report of ``vea-augment score``."""

from __future__ import annotations

from pydantic import Field

from vea_augment.schemas.common import Contract


class Interval(Contract):
    """A point estimate with its bootstrap 95 % confidence interval."""

    value: float | None
    low: float | None = None
    high: float | None = None


class ProtocolInfo(Contract):
    """One scoring protocol of the report: its normaliser and how its numbers are computed."""

    name: str = Field(description="The protocol's name (paper, strict, anls, vqa, relaxed).")
    normalizer: str = Field(description="The answer normaliser, in words.")
    definition: str = Field(description="How the metrics use the normalised answers.")
    reference: str = Field(description="The implementation whose numbers it reproduces.")
    metrics: dict[str, str] = Field(
        default_factory=dict, description="metric id (<protocol>.<metric>) -> column label"
    )


class MethodScores(Contract):
    """Metrics of one method on one dataset, each keyed by its protocol."""

    dataset: str
    method: str
    n: int = Field(ge=0)
    errors: int = Field(default=0, ge=0)
    scores: dict[str, Interval] = Field(
        default_factory=dict,
        description="metric id (<protocol>.<metric>, e.g. paper.exact_match) -> mean over the "
        "samples with its bootstrap 95 % interval",
    )
    gain_over_base: dict[str, Interval] = Field(
        default_factory=dict,
        description="metric id -> gain over base, with a paired bootstrap 95 % interval",
    )
    wins: int | None = Field(
        default=None,
        description="Samples scoring higher here than under base on the decision metric.",
    )
    losses: int | None = Field(
        default=None,
        description="Samples scoring lower here than under base on the decision metric.",
    )


class SeeingNotBelieving(Contract):
    """Attribution quality of the masks, split by whether the base answer was right.

    The paper's finding: the evidence is found (high AUROC) even when the answer is wrong.
    "Right" is full credit on the report's decision metric.
    """

    dataset: str
    auroc_when_base_right: float | None
    auroc_when_base_wrong: float | None
    n_right: int = Field(ge=0)
    n_wrong: int = Field(ge=0)
    n_without_auroc: int = Field(default=0, ge=0)


class ScoreReport(Contract):
    """All scores, with the protocol of every number named."""

    protocols: list[ProtocolInfo] = Field(
        default_factory=list, description="The protocols whose metrics appear in the rows."
    )
    decision_metric: str = Field(
        description="The metric id deciding wins/losses, the chart and the "
        "seeing-not-believing split (paper.exact_match by default)."
    )
    prompt: str | None = None
    predictions: str
    error_policy: str = "an error prediction scores 0 on every metric"
    bootstrap_resamples: int = Field(default=1000, ge=0)
    seed: int = 0
    rows: list[MethodScores] = Field(default_factory=list)
    seeing_not_believing: list[SeeingNotBelieving] = Field(default_factory=list)
    tool_version: str
