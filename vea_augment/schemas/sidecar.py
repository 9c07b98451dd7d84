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


ImageContent = Literal["highlighted", "original", "reencoded", "none"]
"""What a sample's image member holds: the highlighted image (ok); for a failed sample the
original bytes as read (possibly not decodable: the reason says why), the decoded original
re-encoded to the job's ``--image-format``, or nothing (a zero-byte member: the input had
no image bytes)."""


class MaskQuality(Contract):
    """How well the final mask covers the sample's evidence boxes (``method/mask_quality``):
    pixel AUROC and NDCG of the mask's cells against the boxes."""

    auroc: float = Field(ge=0, le=1)
    ndcg: float = Field(ge=0, le=1)


class ConversationTurn(Contract):
    """One LLaVA/ShareGPT turn."""

    from_: str = Field(alias="from")
    value: str


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
    boundary: Literal["reflect", "constant", "normalized"] = Field(
        default="reflect", description="The Eq. 3 blur's border handling (reflect: the paper's)."
    )
    mask_quality: MaskQuality | None = Field(
        default=None,
        description="Pixel AUROC/NDCG of the mask against the evidence boxes; None without "
        "boxes (or when every cell has the same label) and for a failed sample.",
    )
    strongest_token_replaced: bool = Field(
        default=False,
        description="The denoise step (Eq. 2) replaced the highest-scoring token: the mask "
        "lost the model's strongest evidence.",
    )
    prompt: str | None = Field(default=None, description="The exact text that was attributed.")
    image_size: tuple[int, int] | None = Field(default=None, description="(width, height).")
    views: list[ViewGrid] = Field(default_factory=list, description="Views that contributed.")
    boxes_clipped: int = Field(default=0, ge=0, description="Evidence boxes clipped to image.")
    timing: SampleTiming = Field(default_factory=SampleTiming)
    tool_version: str
    image: ImageContent = Field(
        default="highlighted", description="What the sample's image member holds."
    )
    placeholders: list[str] = Field(
        default_factory=list,
        description="Members written only so that every sample has the same members; they hold "
        "no result (a failed sample's mask.png of ones and empty scores.npy).",
    )
    # Sample isolation (issue 16)
    source_key: str | None = Field(
        default=None,
        description="The input's key, when the output key differs from it (made safe, or a "
        "duplicate's key-dupN).",
    )
    exif_orientation: int | None = Field(
        default=None,
        ge=2,
        le=8,
        description="The EXIF orientation applied to the image and to the evidence boxes.",
    )
    conversations: list[ConversationTurn] | None = Field(
        default=None,
        description="The sample as a LLaVA/ShareGPT conversation: VEA prompt with the question, "
        "reference answer. The input record's own fields (its conversations too) are untouched.",
    )

    @model_validator(mode="after")
    def _error_has_reason(self) -> VEASidecar:
        if self.status == "error" and not self.reason:
            raise ValueError("an error sidecar must say why (reason)")
        return self
