"""Mask quality as a number (issue 17): per sample in the sidecar, per shard in its stats,
per job in the augment summary.

A sample with evidence boxes gets the pixel AUROC and NDCG of its final mask against them
(``method/mask_quality.py``); every ok sample says whether the denoise step (Eq. 2) replaced
its highest-scoring token, which is how the paper's lambda = 10 erases evidence carried by
one token. Shards add these up; the job adds the shards up, weighting each by its samples.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vea_augment.method.denoise import replaced_cells
from vea_augment.method.mask_quality import mask_auroc_ndcg
from vea_augment.method.types import MaskConfig, TokenView
from vea_augment.schemas.sidecar import MaskQuality
from vea_augment.schemas.stats import MaskQualityStats


def strongest_token_replaced(views: Sequence[TokenView], config: MaskConfig) -> bool:
    """Whether Eq. 2 (with ``config.lam``) replaces a token holding the highest raw score of
    all ``views``; False when ``config.denoise`` is off or no view has a score."""
    grids = [np.asarray(view.scores) for view in views if np.asarray(view.scores).size]
    if not config.denoise or not grids:
        return False
    best = max(float(grid.max()) for grid in grids)
    return any(bool(np.any(replaced_cells(grid, config.lam) & (grid == best))) for grid in grids)


def sample_mask_fields(
    views: Sequence[TokenView],
    mask: np.ndarray,
    evidence_boxes: Sequence[Sequence[float]] | None,
    config: MaskConfig,
) -> dict[str, Any]:
    """The sidecar fields ``mask_quality`` and ``strongest_token_replaced`` of one ok sample.

    ``mask_quality`` is None without boxes, or when the boxes give every cell the same label
    (they cover the whole image): then there is no ranking to judge.
    """
    quality = None
    if evidence_boxes:
        auroc, ndcg = mask_auroc_ndcg(mask, np.asarray(evidence_boxes, dtype=np.float64))
        if math.isfinite(auroc) and math.isfinite(ndcg):
            quality = MaskQuality(auroc=auroc, ndcg=ndcg)
    return {
        "mask_quality": quality,
        "strongest_token_replaced": strongest_token_replaced(views, config),
    }


@dataclass
class MaskScoreTally:
    """Running sums of mask quality over samples (a shard) or over shards (a job)."""

    samples: int = 0
    scored: int = 0
    auroc_sum: float = 0.0
    ndcg_sum: float = 0.0
    replaced: int = 0

    def add_sample(self, vea: Mapping[str, Any]) -> None:
        """Count one ok sample from its written sidecar (the ``vea`` block, as JSON)."""
        self.samples += 1
        self.replaced += int(bool(vea.get("strongest_token_replaced")))
        quality = vea.get("mask_quality")
        if quality:
            self.scored += 1
            self.auroc_sum += float(quality["auroc"])
            self.ndcg_sum += float(quality["ndcg"])

    def add_stats(self, stats: MaskQualityStats | Mapping[str, Any] | None) -> None:
        """Add a shard's :class:`MaskQualityStats` (or its JSON); None (old stats) adds nothing."""
        if stats is None:
            return
        shard = MaskQualityStats.model_validate(stats)
        self.samples += shard.samples
        self.scored += shard.scored
        self.replaced += shard.strongest_token_replaced
        if shard.scored:
            self.auroc_sum += (shard.mean_auroc or 0.0) * shard.scored
            self.ndcg_sum += (shard.mean_ndcg or 0.0) * shard.scored

    def stats(self) -> MaskQualityStats:
        """The totals as a contract: means over the scored samples, None when none was."""
        # min() undoes summation rounding that could lift a mean of ones past 1.
        return MaskQualityStats(
            samples=self.samples,
            scored=self.scored,
            mean_auroc=min(self.auroc_sum / self.scored, 1.0) if self.scored else None,
            mean_ndcg=min(self.ndcg_sum / self.scored, 1.0) if self.scored else None,
            strongest_token_replaced=self.replaced,
        )


def mask_quality_lines(stats: MaskQualityStats | None) -> list[str]:
    """The augment summary's mask-quality lines; none when no ok sample was counted."""
    if stats is None or stats.samples == 0:
        return []
    if stats.scored == 0:
        quality = (
            f"mask quality: not measured (none of the {stats.samples} ok samples has "
            "evidence boxes)"
        )
    else:
        quality = (
            f"mask quality: mean pixel AUROC {stats.mean_auroc:.2f}, NDCG {stats.mean_ndcg:.2f} "
            f"over {stats.scored} samples with boxes"
        )
    replaced = (
        f"denoise (Eq. 2) replaced the strongest token in {stats.strongest_token_replaced} "
        f"of {stats.samples} samples"
    )
    return [quality, replaced]
