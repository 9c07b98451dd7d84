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
    gain_over_base: dict[str, float] = Field(default_factory=dict, description="metric -> gain")
    wins: int | None = Field(default=None, description="Samples right here, wrong under base.")
    losses: int | None = Field(default=None, description="Samples wrong here, right under base.")


class ScoreReport(Contract):
    """All scores, with the protocol that produced them named."""

    normalizer: str
    prompt: str | None = None
    predictions: str
    rows: list[MethodScores] = Field(default_factory=list)
    attribution_auroc_by_base_correctness: dict[str, float | None] | None = None
    tool_version: str
