"""The layer profile: which decoder layers ground the evidence (DESIGN.md, method step 1)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from vea_augment.schemas.common import Contract


class LayerScore(Contract):
    """One decoder layer's attribution quality over the profiling samples."""

    layer: int = Field(ge=0, description="0-based decoder layer index.")
    auroc_mean: float | None = None
    auroc_std: float | None = None
    ndcg_mean: float | None = None
    ndcg_std: float | None = None
    n_samples: int = Field(ge=0, description="Samples with a defined AUROC at this layer.")


class HeadScore(Contract):
    """One attention head's mean AUROC at one layer (``profile --per-head``)."""

    layer: int = Field(ge=0)
    head: int = Field(ge=0)
    auroc_mean: float | None = None
    n_samples: int = Field(ge=0)


class ExcludedSample(Contract):
    """A sample left out of the profile, and why."""

    id: str
    reason: str


BlurBoundary = Literal["reflect", "constant", "normalized"]
"""The values of ``vea_augment.method.types.BoundaryMode`` (schemas import no method code)."""


class PostProcessingSetting(Contract):
    """One post-processing choice: the Eq. 3 blur and the Eq. 2 denoise (MaskConfig's knobs)."""

    sigma: float = Field(ge=0, description="Eq. 3 sigma: <= 1 fraction of the shorter side.")
    lam: float = Field(gt=0, description="Eq. 2 spike factor (unused when denoise is off).")
    denoise: bool = Field(description="Whether Eq. 2 runs (false: lambda 'off').")
    boundary: BlurBoundary = Field(description="Eq. 3 border handling.")


class PostProcessingScore(PostProcessingSetting):
    """One grid point and the mean pixel AUROC of the masks it makes."""

    auroc_mean: float | None = Field(description="Mean over samples with a defined AUROC.")
    n_samples: int = Field(ge=0, description="Samples with a defined pixel AUROC.")


class PostProcessingChoice(Contract):
    """What ``profile`` measured of the post-processing on its samples, and what it chose."""

    chosen: PostProcessingSetting
    grid: list[PostProcessingScore] = Field(description="Every grid point, best first.")
    metric: str = Field(default="pixel AUROC", description="What ranks the grid points.")
    layers: list[int] = Field(description="The chosen layers whose mean views were masked.")
    tie_epsilon: float = Field(ge=0, description="Points this close to the best tie.")
    skipped: list[ExcludedSample] = Field(
        default_factory=list, description="Samples no mask could be made for, and why."
    )


class LayerProfile(Contract):
    """Result of ``vea-augment profile``: the visual-grounding layers L_VG of one model."""

    model_id: str
    revision: str | None = None
    num_layers: int = Field(gt=0, description="Decoder layers L of the model.")
    top_frac: float = Field(gt=0, le=1, description="Fraction of layers kept: ceil(frac*L).")
    chosen_layers: list[int] = Field(min_length=1, description="L_VG, ascending, 0-based.")
    label_rule: str = Field(default="any", description="Token-label overlap rule (any/half/all).")
    sample_count: int = Field(ge=0)
    excluded: list[ExcludedSample] = Field(default_factory=list)
    layers: list[LayerScore] = Field(default_factory=list, description="One row per layer.")
    heads: list[HeadScore] | None = None
    postprocessing: PostProcessingChoice | None = Field(
        default=None, description="The post-processing grid and its choice (issue 17)."
    )
    source: str = Field(default="measured", description="'measured' or 'published' (paper).")
    tool_version: str | None = None
    created: str | None = None

    @model_validator(mode="after")
    def _layers_in_range(self) -> LayerProfile:
        bad = [layer for layer in self.chosen_layers if not 0 <= layer < self.num_layers]
        if bad:
            raise ValueError(
                f"chosen_layers {bad} outside the model's layers 0..{self.num_layers - 1}"
            )
        if self.source == "measured" and self.layers:
            expected = math.ceil(self.top_frac * self.num_layers)
            if len(self.chosen_layers) != expected:
                raise ValueError(
                    f"{len(self.chosen_layers)} chosen layers, expected ceil({self.top_frac} x "
                    f"{self.num_layers}) = {expected}"
                )
        return self
