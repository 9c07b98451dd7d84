"""Layer profiling (method step 1): score every decoder layer against evidence boxes.

One capture pass per batch over ALL decoder layers (no eager attention), each sample's
per-layer AUROC and NDCG of the image-token scores against its boxes' token labels, then
the means over samples and the top ``ceil(top_frac · L)`` layers by mean AUROC. A sample
that cannot be profiled (no boxes, unreadable, boxes covering no token or every token) is
excluded with its reason, never a crash (whatever the exception: a record nested too deep
is excluded at reading); a profile with no usable sample is an error.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
from PIL import Image

from vea_augment._version import __version__
from vea_augment.data.readers import read_shard
from vea_augment.data.sources import plan_input
from vea_augment.errors import ConfigError
from vea_augment.fallback import batch_then_one_by_one
from vea_augment.method.layer_profile import (
    flat_scores,
    ranking_quality,
    top_layers,
    view_labels,
)
from vea_augment.method.ranking_metrics import auroc, nan_excluding_mean
from vea_augment.options import (
    LABEL_RULE,
    MAX_IMAGE_PIXELS,
    PROFILE_LIMIT,
    TOP_FRAC,
    InputOptions,
    LabelRule,
)
from vea_augment.schemas.profile import ExcludedSample, HeadScore, LayerProfile, LayerScore
from vea_augment.steps.augment import AugmentSettings, describe_exception, prepare_sample
from vea_augment.steps.postprocessing import SampleViews


@dataclass
class ProfileSample:
    """A decoded sample with evidence boxes, ready for a capture pass."""

    id: str
    image: Image.Image
    question: str
    boxes: list[tuple[float, float, float, float]]
    answers: list[str] = field(default_factory=list)


@dataclass
class SampleProfile:
    """One sample's per-layer (and optionally per-head) attribution quality, or its exclusion."""

    id: str
    auroc: list[float] = field(default_factory=list)
    ndcg: list[float] = field(default_factory=list)
    head_auroc: list[list[float]] | None = None
    excluded: str | None = None
    views: SampleViews | None = None  # every layer's views, for the post-processing grid


def iter_profile_samples(
    source: str,
    reading: InputOptions | None = None,
    max_pixels: int = MAX_IMAGE_PIXELS,
    require_boxes: bool = True,
) -> Iterator[ProfileSample | ExcludedSample]:
    """Every input sample in order: decoded (with its boxes, if ``require_boxes``), or
    excluded with the reason. ``reading`` says how to read the source."""
    settings = AugmentSettings(max_pixels=max_pixels)
    planned = plan_input(source, reading or InputOptions())
    for task in planned:
        for raw in read_shard(task):
            prepared = prepare_sample(raw, settings)
            sample_id = str((raw.record or {}).get("id") or raw.key)
            if prepared.error is not None or prepared.sample is None or prepared.image is None:
                yield ExcludedSample(id=sample_id, reason=f"{prepared.stage}: {prepared.error}")
            elif require_boxes and not prepared.sample.evidence_boxes:
                yield ExcludedSample(id=sample_id, reason="no evidence boxes")
            else:
                yield ProfileSample(
                    id=prepared.sample.id,
                    image=prepared.image,
                    question=prepared.sample.question,
                    boxes=list(prepared.sample.evidence_boxes),
                    answers=list(prepared.sample.answers),
                )


def collect_profile_samples(
    source: str,
    limit: int | None = PROFILE_LIMIT,
    reading: InputOptions | None = None,
    max_pixels: int = MAX_IMAGE_PIXELS,
    require_boxes: bool = True,
) -> tuple[list[ProfileSample], list[ExcludedSample]]:
    """The first ``limit`` usable samples of ``source`` and every sample excluded before them
    (the arguments after ``limit`` as :func:`iter_profile_samples` takes them).

    Raises :class:`ConfigError` naming ``source`` when it yields no sample at all.
    """
    usable: list[ProfileSample] = []
    excluded: list[ExcludedSample] = []
    for item in iter_profile_samples(source, reading, max_pixels, require_boxes):
        if isinstance(item, ExcludedSample):
            excluded.append(item)
            continue
        usable.append(item)
        if limit is not None and len(usable) >= limit:
            break
    if not usable and not excluded:
        raise ConfigError(f"input {source!r} yielded no samples: its shards are empty")
    return usable, excluded


def _label_problem(labels: np.ndarray) -> str | None:
    if not labels.any():
        return "the evidence boxes cover no image token"
    if labels.all():
        return "the evidence boxes cover every image token (nothing to rank)"
    return None


def score_attribution(
    sample: ProfileSample, attribution: Any, rule: LabelRule = LABEL_RULE
) -> SampleProfile:
    """Per-layer AUROC/NDCG (and per-head AUROC when captured) of one attributed sample."""
    layers = sorted(attribution.layer_views)
    labels = view_labels(attribution.layer_views[layers[0]], sample.boxes, rule)
    problem = _label_problem(labels)
    if problem is not None:
        return SampleProfile(id=sample.id, excluded=problem)
    views = SampleViews.of(sample.id, sample.boxes, attribution)
    profile = SampleProfile(id=sample.id, views=views)
    for layer in layers:
        area, gain = ranking_quality(flat_scores(attribution.layer_views[layer]), labels)
        profile.auroc.append(area)
        profile.ndcg.append(gain)
    if attribution.head_scores is not None:
        profile.head_auroc = [
            [auroc(head, labels) for head in attribution.head_scores[layer]] for layer in layers
        ]
    return profile


def profile_batch(
    attributor: Any,
    samples: Sequence[ProfileSample],
    rule: LabelRule = LABEL_RULE,
    per_head: bool = False,
) -> list[SampleProfile]:
    """Capture every decoder layer for a batch and score each sample; one bad sample is
    retried alone and, if it still fails, excluded with the reason."""
    layers = list(range(attributor.num_layers))

    def run(batch: Sequence[ProfileSample]) -> list[SampleProfile]:
        results = attributor.attribute_batch(
            [s.image for s in batch], [s.question for s in batch], layers, per_head=per_head
        )
        return [score_attribution(s, r, rule) for s, r in zip(batch, results, strict=True)]

    def exclude(sample: ProfileSample, error: Exception) -> SampleProfile:
        return SampleProfile(id=sample.id, excluded=f"attribute: {describe_exception(error)}")

    # any exception of one sample (scoring included) excludes that sample alone
    return batch_then_one_by_one(samples, run, exclude, errors=(Exception,))


def _mean_or_none(value: float) -> float | None:
    return None if math.isnan(value) else value


def summarize_profile(
    profiles: Sequence[SampleProfile],
    excluded: Sequence[ExcludedSample],
    model_id: str,
    num_layers: int,
    top_frac: float = TOP_FRAC,
    rule: LabelRule = LABEL_RULE,
    revision: str | None = None,
) -> LayerProfile:
    """The per-layer table (mean and spread over samples) and the chosen layers.

    Raises :class:`ConfigError` naming the exclusion reasons when no sample is usable.
    """
    usable = [p for p in profiles if p.excluded is None]
    all_excluded = list(excluded) + [
        ExcludedSample(id=p.id, reason=p.excluded) for p in profiles if p.excluded is not None
    ]
    if not usable:
        reasons: dict[str, int] = {}
        for item in all_excluded:
            reasons[item.reason] = reasons.get(item.reason, 0) + 1
        listed = "; ".join(f"{count}x {reason}" for reason, count in reasons.items())
        raise ConfigError(
            f"no usable profiling sample: {len(all_excluded)} excluded"
            + (f" ({listed})" if listed else "")
            + "; profiling needs samples with evidence boxes"
        )
    aurocs = np.array([p.auroc for p in usable], dtype=np.float64)
    ndcgs = np.array([p.ndcg for p in usable], dtype=np.float64)
    rows = []
    for layer in range(num_layers):
        area, gain = nan_excluding_mean(aurocs[:, layer]), nan_excluding_mean(ndcgs[:, layer])
        rows.append(
            LayerScore(
                layer=layer,
                auroc_mean=_mean_or_none(area.mean),
                auroc_std=_mean_or_none(area.std),
                ndcg_mean=_mean_or_none(gain.mean),
                ndcg_std=_mean_or_none(gain.std),
                n_samples=area.n_used,
            )
        )
    heads = None
    if all(p.head_auroc is not None for p in usable):
        per_head = np.array([p.head_auroc for p in usable], dtype=np.float64)
        heads = []
        for layer in range(num_layers):
            for head in range(per_head.shape[2]):
                summary = nan_excluding_mean(per_head[:, layer, head])
                heads.append(
                    HeadScore(
                        layer=layer,
                        head=head,
                        auroc_mean=_mean_or_none(summary.mean),
                        n_samples=summary.n_used,
                    )
                )
    chosen = top_layers({row.layer: row.auroc_mean for row in rows}, top_frac)
    return LayerProfile(
        model_id=model_id,
        revision=revision,
        num_layers=num_layers,
        top_frac=top_frac,
        chosen_layers=chosen,
        label_rule=rule,
        sample_count=len(usable),
        excluded=all_excluded,
        layers=rows,
        heads=heads,
        source="measured",
        tool_version=__version__,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
