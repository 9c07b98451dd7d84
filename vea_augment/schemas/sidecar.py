"""The ``vea`` block every output sample's ``json`` carries (DESIGN.md, Output shard sample)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from vea_augment.schemas.common import Contract


class ViewGrid(Contract):
    """One view the model saw (a resized image, a tile, a thumbnail) and its token grid."""

    name: str
    rows: int = Field(ge=0)
    cols: int = Field(ge=0)


class SampleTiming(Contract):
    """Per-sample seconds spent in each stage."""

    decode_s: float = Field(default=0.0, ge=0)
    attribute_s: float = Field(default=0.0, ge=0)
    mask_s: float = Field(default=0.0, ge=0)
    encode_s: float = Field(default=0.0, ge=0)


class VEASidecar(Contract):
    """How this sample's mask was made, or why it was not."""

    status: Literal["ok", "error"]
    reason: str | None = Field(default=None, description="Why the sample failed (status=error).")
    model: str
    layers: list[int]
    alpha: float = Field(ge=0, le=1)
    sigma: float = Field(ge=0)
    lam: float = Field(gt=0)
    denoise: bool = True
    smooth: bool = True
    prompt: str | None = Field(default=None, description="The exact text that was attributed.")
    image_size: tuple[int, int] | None = Field(default=None, description="(width, height).")
    views: list[ViewGrid] = Field(default_factory=list, description="Views that contributed.")
    boxes_clipped: int = Field(default=0, ge=0, description="Evidence boxes clipped to image.")
    timing: SampleTiming = Field(default_factory=SampleTiming)
    tool_version: str

    @model_validator(mode="after")
    def _error_has_reason(self) -> VEASidecar:
        if self.status == "error" and not self.reason:
            raise ValueError("an error sidecar must say why (reason)")
        return self
