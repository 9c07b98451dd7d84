"""``profile`` chooses the mask post-processing (issue 17 item 3).

After the layers are chosen, every profiled sample's mask is made as ``augment`` would make
it from those layers (the mean of their token views, then :func:`evidence_mask`) at each
point of a small grid of sigma (Eq. 3), lambda (Eq. 2, or denoise off) and blur boundary,
and scored by its pixel AUROC against the sample's evidence boxes. The grid reuses the
views captured once per sample for the layer scores: no forward pass of its own.

The paper's values win unless another point beats them by more than
:data:`~vea_augment.options.GRID_TIE_EPSILON`; among the points within it of the best, the
fewest changes from the paper's values win, then the higher AUROC, then grid order.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vea_augment.errors import VEAError
from vea_augment.method.mask_quality import mask_auroc
from vea_augment.method.pipeline import evidence_mask
from vea_augment.method.types import BoundaryMode, MaskConfig, TokenView
from vea_augment.options import GRID_BOUNDARIES, GRID_LAMBDAS, GRID_SIGMAS, GRID_TIE_EPSILON
from vea_augment.schemas.profile import (
    ExcludedSample,
    LayerProfile,
    PostProcessingChoice,
    PostProcessingScore,
    PostProcessingSetting,
)

PAPER = MaskConfig()
"""The paper's post-processing (MaskConfig's defaults): the reference of the tie rule."""


class SampleViews:
    """One profiled sample's token views at every layer, kept until the layers are chosen.

    Scores are stored as float32: the capture computes the attention rows in float32, so
    this loses nothing, and the Attributor's float64 views are recovered exactly. A plain
    class, not a dataclass, so that ``dataclasses.asdict`` of the sample's profile copies it
    whole instead of turning its views into dicts.
    """

    def __init__(
        self,
        id: str,
        boxes: Sequence[Sequence[float]],
        image_size: tuple[int, int],
        layer_views: dict[int, list[TokenView]],
    ) -> None:
        self.id = id
        self.boxes = [list(map(float, box)) for box in boxes]
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.layer_views = {
            layer: [
                TokenView(v.name, np.asarray(v.scores, dtype=np.float32), v.boxes, v.image_size)
                for v in views
            ]
            for layer, views in sorted(layer_views.items())
        }

    @classmethod
    def of(cls, id: str, boxes: Sequence[Sequence[float]], attribution: Any) -> SampleViews:
        """The views of an :class:`~vea_augment.attribution.attributor.Attribution`."""
        return cls(id, boxes, attribution.image_size, attribution.layer_views)

    def token_views(self, layers: Sequence[int]) -> list[TokenView]:
        """The Eq. 1 views at ``layers``: per view, the mean of the layers' scores in float64,
        layers ascending, as the Attributor computes ``token_views`` for augment."""
        missing = sorted(set(layers) - set(self.layer_views))
        if missing:
            raise VEAError(f"sample {self.id!r} has no views at layers {missing}")
        chosen = [self.layer_views[layer] for layer in sorted(set(layers))]
        return [
            TokenView(
                view.name,
                np.mean([np.asarray(views[i].scores, np.float64) for views in chosen], axis=0),
                view.boxes,
                view.image_size,
            )
            for i, view in enumerate(chosen[0])
        ]


def grid_configs(
    sigmas: Sequence[float] = GRID_SIGMAS,
    lambdas: Sequence[float | None] = GRID_LAMBDAS,
    boundaries: Sequence[BoundaryMode] = GRID_BOUNDARIES,
) -> list[MaskConfig]:
    """Every combination, sigma slowest and boundary fastest; a lambda of None is denoise
    off (its ``lam`` stays the paper's, unused)."""
    return [
        MaskConfig(
            sigma=sigma,
            lam=PAPER.lam if lam is None else lam,
            denoise=lam is not None,
            boundary=boundary,
        )
        for sigma, lam, boundary in itertools.product(sigmas, lambdas, boundaries)
    ]


def changes_from_paper(setting: PostProcessingSetting | MaskConfig) -> int:
    """How many of sigma, lambda/denoise and boundary differ from the paper's values."""
    lambda_changed = setting.denoise != PAPER.denoise or (
        setting.denoise and setting.lam != PAPER.lam
    )
    return (
        int(setting.sigma != PAPER.sigma)
        + int(lambda_changed)
        + int(setting.boundary != PAPER.boundary)
    )


def _setting(config: MaskConfig) -> dict[str, Any]:
    return {
        "sigma": config.sigma,
        "lam": config.lam,
        "denoise": config.denoise,
        "boundary": config.boundary,
    }


def _setting_of(row: PostProcessingScore) -> dict[str, Any]:
    return row.model_dump(include={"sigma", "lam", "denoise", "boundary"})


@dataclass
class _Tally:
    total: float = 0.0
    count: int = 0


def score_grid(
    samples: Sequence[SampleViews], layers: Sequence[int], configs: Sequence[MaskConfig]
) -> tuple[list[PostProcessingScore], list[ExcludedSample]]:
    """Each config's mean pixel AUROC over ``samples`` (masks from the mean views at
    ``layers``), in ``configs`` order, and the samples no mask could be made for.

    A sample whose boxes give every mask cell the same label has no AUROC and is left out of
    that point's mean (its ``n_samples`` says how many counted)."""
    tallies = [_Tally() for _ in configs]
    skipped: list[ExcludedSample] = []
    for sample in samples:
        try:
            views = sample.token_views(layers)
            masks = [evidence_mask(views, *sample.image_size, config) for config in configs]
        except VEAError as error:
            skipped.append(ExcludedSample(id=sample.id, reason=f"mask: {error}"))
            continue
        for tally, mask in zip(tallies, masks, strict=True):
            area = mask_auroc(mask, sample.boxes)
            if math.isfinite(area):
                tally.total += area
                tally.count += 1
    scores = [
        PostProcessingScore(
            **_setting(config),
            # min() undoes summation rounding that could lift a mean of ones past 1.
            auroc_mean=min(tally.total / tally.count, 1.0) if tally.count else None,
            n_samples=tally.count,
        )
        for config, tally in zip(configs, tallies, strict=True)
    ]
    return scores, skipped


def choose(
    scores: Sequence[PostProcessingScore], epsilon: float = GRID_TIE_EPSILON
) -> PostProcessingScore:
    """The winner of the tie rule (module docstring); the first point when none was
    measured. Raises :class:`ValueError` for an empty grid."""
    if not scores:
        raise ValueError("the post-processing grid is empty")
    measured = [score for score in scores if score.auroc_mean is not None]
    if not measured:
        return scores[0]
    best = max(score.auroc_mean or 0.0 for score in measured)
    ties = [score for score in measured if (score.auroc_mean or 0.0) >= best - epsilon]
    order = {id(score): index for index, score in enumerate(scores)}
    return min(
        ties,
        key=lambda s: (changes_from_paper(s), -(s.auroc_mean or 0.0), order[id(s)]),
    )


def best_first(scores: Sequence[PostProcessingScore]) -> list[PostProcessingScore]:
    """The grid sorted by mean AUROC, highest first (unmeasured last), then fewest changes
    from the paper's values, then grid order."""
    return sorted(
        scores,
        key=lambda s: (
            s.auroc_mean is None,
            -(s.auroc_mean or 0.0),
            changes_from_paper(s),
        ),
    )


def postprocessing_choice(
    samples: Sequence[SampleViews | None],
    layers: Sequence[int],
    configs: Sequence[MaskConfig] | None = None,
    epsilon: float = GRID_TIE_EPSILON,
) -> PostProcessingChoice:
    """Score the grid (default: :func:`grid_configs`) on ``samples`` (None entries, samples
    without views, are ignored) at ``layers`` and choose by the tie rule."""
    usable = [sample for sample in samples if sample is not None]
    scores, skipped = score_grid(usable, layers, configs or grid_configs())
    winner = choose(scores, epsilon)
    return PostProcessingChoice(
        chosen=PostProcessingSetting(**_setting_of(winner)),
        grid=best_first(scores),
        layers=sorted(set(layers)),
        tie_epsilon=epsilon,
        skipped=skipped,
    )


def with_postprocessing(
    profile: LayerProfile, samples: Sequence[SampleViews | None]
) -> LayerProfile:
    """``profile`` with its post-processing grid scored at its chosen layers."""
    choice = postprocessing_choice(samples, profile.chosen_layers)
    return profile.model_copy(update={"postprocessing": choice})


def describe_setting(setting: PostProcessingSetting | MaskConfig) -> str:
    """``sigma 0.1, lambda off, boundary constant`` (paper's values marked)."""
    paper = " (paper)"
    sigma = f"sigma {setting.sigma:g}{paper if setting.sigma == PAPER.sigma else ''}"
    if not setting.denoise:
        lam = "lambda off"
    else:
        lam = f"lambda {setting.lam:g}{paper if setting.lam == PAPER.lam else ''}"
    boundary = f"boundary {setting.boundary}{paper if setting.boundary == PAPER.boundary else ''}"
    return f"{sigma}, {lam}, {boundary}"


def postprocessing_lines(choice: PostProcessingChoice | None) -> list[str]:
    """The profile summary's grid table, best first, and the choice; none without a grid."""
    if choice is None:
        return []
    lines = [
        f"post-processing grid (mean {choice.metric} of the final masks at layers "
        f"{','.join(map(str, choice.layers))}):",
        "  sigma  lambda  boundary     AUROC    n",
    ]
    for row in choice.grid:
        lam = f"{row.lam:g}" if row.denoise else "off"
        area = "  -  " if row.auroc_mean is None else f"{row.auroc_mean:.3f}"
        mark = "  <- chosen" if PostProcessingSetting(**_setting_of(row)) == choice.chosen else ""
        lines.append(
            f"  {row.sigma:<5g}  {lam:<6}  {row.boundary:<11}  {area}  {row.n_samples:>3}{mark}"
        )
    lines += [f"  skipped {item.id}: {item.reason}" for item in choice.skipped]
    lines.append(f"chosen post-processing: {describe_setting(choice.chosen)}")
    return lines
