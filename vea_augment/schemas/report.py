"""The score report of ``vea-augment score``."""

from __future__ import annotations

from pydantic import Field

from vea_augment.schemas.common import Contract


class Interval(Contract):
    """A point estimate with its bootstrap 95 % confidence interval."""

    value: float | None
    low: float | None = None
    high: float | None = None


class MethodScores(Contract):
    """Metrics of one method on one dataset."""

    dataset: str
    method: str
    n: int = Field(ge=0)
    errors: int = Field(default=0, ge=0)
    exact_match: Interval
    token_f1: Interval
    anls: Interval
    vqa_accuracy: Interval | None = None
    gain_over_base: dict[str, Interval] = Field(
        default_factory=dict,
        description="metric -> gain over base, with a paired bootstrap 95 % interval",
    )
    wins: int | None = Field(
        default=None, description="Samples exactly right here and wrong under base."
    )
    losses: int | None = Field(
        default=None, description="Samples wrong here and exactly right under base."
    )


class SeeingNotBelieving(Contract):
    """Attribution quality of the masks, split by whether the base answer was right.

    The paper's finding: the evidence is found (high AUROC) even when the answer is wrong.
    """

    dataset: str
    auroc_when_base_right: float | None
    auroc_when_base_wrong: float | None
    n_right: int = Field(ge=0)
    n_wrong: int = Field(ge=0)
    n_without_auroc: int = Field(default=0, ge=0)


class ScoreReport(Contract):
    """All scores, with the protocol that produced them named."""

    normalizer: str
    prompt: str | None = None
    predictions: str
    error_policy: str = "an error prediction scores 0 on every metric"
    bootstrap_resamples: int = Field(default=1000, ge=0)
    seed: int = 0
    rows: list[MethodScores] = Field(default_factory=list)
    seeing_not_believing: list[SeeingNotBelieving] = Field(default_factory=list)
    tool_version: str
