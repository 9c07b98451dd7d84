"""One answer of one model to one sample under one method (``answer`` output, JSONL)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vea_augment.schemas.common import Contract

Method = Literal["base", "inst", "vea", "vea-no-prompt", "vea-both"]


class Prediction(Contract):
    """A prediction line of ``predictions.jsonl``."""

    id: str
    dataset: str | None = None
    method: Method
    model: str
    backend: Literal["transformers", "endpoint"] = "transformers"
    prompt: str
    prediction: str | None = Field(default=None, description="None when status is error.")
    references: list[str] = Field(default_factory=list)
    status: Literal["ok", "error"] = "ok"
    reason: str | None = None
    seconds: float = Field(default=0.0, ge=0)
