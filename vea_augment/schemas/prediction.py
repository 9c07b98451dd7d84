"""One answer of one model to one sample under one method (``answer`` output, JSONL)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from vea_augment.schemas.common import Contract

Method = Literal["base", "inst", "vea", "vea-no-prompt", "vea-both", "oracle"]
#: "oracle": the original dimmed by Eq. 4 outside the sample's ground-truth evidence boxes.
ImageKind = Literal["original", "highlighted", "oracle"]


class Prediction(Contract):
    """A prediction line of ``predictions.jsonl``."""

    id: str
    dataset: str | None = None
    method: Method
    model: str
    backend: Literal["transformers", "endpoint"] = "transformers"
    prompt: str = Field(description="The exact text the model was given (chat-rendered).")
    images: list[ImageKind] = Field(
        default_factory=list, description="The images sent with the prompt, in order."
    )
    prediction: str | None = Field(default=None, description="None when status is error.")
    references: list[str] = Field(default_factory=list)
    status: Literal["ok", "error"] = "ok"
    reason: str | None = None
    seconds: float = Field(default=0.0, ge=0, description="Wall time of this answer.")
    attribution_auroc: float | None = Field(
        default=None,
        description=(
            "Pixel-level AUROC of the sample's evidence mask against its evidence boxes; "
            "None without boxes, without a mask, or when every pixel has one label."
        ),
    )
    shard: int | None = Field(default=None, ge=0, description="The shard the sample came from.")

    @model_validator(mode="after")
    def _status_consistent(self) -> Prediction:
        if self.status == "error" and not self.reason:
            raise ValueError("an error prediction must say why (reason)")
        if self.status == "ok" and self.prediction is None:
            raise ValueError("an ok prediction must carry the predicted text")
        return self
