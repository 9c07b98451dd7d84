"""Per-shard statistics written beside the shards as ``_stats/shard-NNNNN.json``."""

from __future__ import annotations

from pydantic import Field

from vea_augment.schemas.common import Contract


class FailureRecord(Contract):
    """One sample that could not be processed: its key and the reason."""

    key: str
    reason: str
    stage: str = Field(
        default="unknown",
        description="read, validate, decode, attribute, mask, encode or write.",
    )
    source_key: str | None = Field(
        default=None,
        description="The key as the input had it, when ``key`` (the output's) differs from it: "
        "sanitised, or renamed as a duplicate.",
    )


class MaskQualityStats(Contract):
    """Mask quality over a shard's (or a job's) ok samples."""

    samples: int = Field(default=0, ge=0, description="Ok samples, each with a mask.")
    scored: int = Field(default=0, ge=0, description="Of those, scored against evidence boxes.")
    mean_auroc: float | None = Field(default=None, ge=0, le=1, description="None: none scored.")
    mean_ndcg: float | None = Field(default=None, ge=0, le=1, description="None: none scored.")
    strongest_token_replaced: int = Field(
        default=0, ge=0, description="Ok samples whose highest-scoring token denoise replaced."
    )


class ShardStats(Contract):
    """What happened to one input shard."""

    shard: int = Field(ge=0)
    source: str = Field(description="The input shard (path, URL or JSONL slice).")
    output: str = Field(description="The output shard file.")
    total: int = Field(ge=0)
    ok: int = Field(ge=0)
    errors: int = Field(ge=0)
    failures: list[FailureRecord] = Field(default_factory=list)
    errors_by_reason: dict[str, int] = Field(
        default_factory=dict,
        description="Failures per kind (stage and reason without sample-specific values).",
    )
    timing_s: dict[str, float] = Field(default_factory=dict, description="Stage -> seconds.")
    mask_quality: MaskQualityStats | None = Field(
        default=None, description="Mask quality of the ok samples (None in older stats)."
    )
    worker: str | None = None
    started: str | None = None
    finished: str | None = None
