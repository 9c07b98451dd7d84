"""``analyze``: the paper's "seeing but not believing" diagnostics for one model.

Per sample, one capture pass over every decoder layer gives the last prompt token's attention
over the whole prompt; per layer it yields the relative attention per token (RAPT) of the
question's tokens (the paper's "text" section), of every non-image token (``text``), of the
image, the evidence image tokens and the other image tokens, and the AUROC of the
image-token scores against the evidence boxes. The model also answers with the base prompt
(greedy, 50 tokens), scored by exact match, so every curve can be split by whether the answer
was right. The paper's finding is that attention moves to the image with depth and that deep
layers find the evidence even when the answer is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vea_augment.answering.methods import METHODS
from vea_augment.errors import ConfigError
from vea_augment.fallback import batch_then_one_by_one
from vea_augment.method.layer_profile import (
    flat_scores,
    ranking_quality,
    relative_attention_per_token,
    top_layers,
    view_labels,
)
from vea_augment.method.protocols import Protocol, get_protocol
from vea_augment.method.ranking_metrics import nan_excluding_mean
from vea_augment.method.types import TokenView
from vea_augment.options import (
    ANALYZE_PROTOCOL,
    ATTRIBUTION_BATCH_SIZE,
    LABEL_RULE,
    TOP_FRAC,
    LabelRule,
)
from vea_augment.schemas.profile import ExcludedSample
from vea_augment.steps.augment import describe_exception
from vea_augment.steps.profile import ProfileSample

#: ``question``: the question's own tokens, the paper release's text section; ``text``: every
#: non-image token of the prompt (instructions and chat-template tokens too).
SECTIONS = ("question", "text", "image", "evidence", "non_evidence")
CONTACT_SHEET_SAMPLES = 12


@dataclass
class SampleDiagnostics:
    """One sample's answer and its per-layer attention shares and evidence ranking."""

    id: str
    question: str
    answers: list[str]
    prediction: str | None
    correct: bool
    tokens: dict[str, int]
    rapt: dict[str, list[float]]
    auroc: list[float]
    error: str | None = None


@dataclass
class SheetSource:
    """What the contact sheet needs of a sample, kept for the first few samples only."""

    sample: ProfileSample
    layer_views: dict[int, list[TokenView]]
    diagnostics: SampleDiagnostics


@dataclass
class Analysis:
    """Everything ``analyze`` measured, ready to be written."""

    model_id: str
    num_layers: int
    chosen_layers: list[int]
    layer_source: str
    samples: list[SampleDiagnostics]
    excluded: list[ExcludedSample]
    protocol: Protocol = field(default_factory=lambda: get_protocol(ANALYZE_PROTOCOL))
    table: list[dict[str, Any]] = field(default_factory=list)
    sheet: list[SheetSource] = field(default_factory=list)


def _sections(
    prompt: np.ndarray,
    image_positions: np.ndarray,
    labels: np.ndarray | None,
    question_positions: np.ndarray,
) -> dict[str, np.ndarray]:
    """Boolean masks over the key positions of one row for each section."""
    image = np.zeros_like(prompt)
    image[image_positions] = True
    evidence = np.zeros_like(prompt)
    if labels is not None:
        evidence[image_positions[labels]] = True
    question = np.zeros_like(prompt)
    question[question_positions] = True
    return {
        "question": question & prompt & ~image,
        "text": prompt & ~image,
        "image": image & prompt,
        "evidence": evidence & prompt,
        "non_evidence": image & ~evidence & prompt if labels is not None else evidence,
    }


def diagnose_batch(
    attributor: Any,
    answerer: Any,
    samples: Sequence[ProfileSample],
    rule: LabelRule = LABEL_RULE,
    protocol: Protocol | None = None,
) -> list[tuple[SampleDiagnostics, dict[int, list[TokenView]]]]:
    """Capture every layer for a batch, answer it with the base prompt, measure each sample.

    An answer is right when ``protocol``'s headline metric gives it full credit (default:
    :data:`~vea_augment.options.ANALYZE_PROTOCOL`, the paper's EM).
    """
    right = (protocol or get_protocol(ANALYZE_PROTOCOL)).metrics[0].score
    layers = list(range(attributor.num_layers))
    captured = attributor.capture([s.image for s in samples], [s.question for s in samples], layers)
    base = METHODS["base"]
    outcomes = answerer.answer_decoded(
        [base.text(s.question) for s in samples], [[s.image] for s in samples]
    )
    results = []
    for row, (sample, outcome) in enumerate(zip(samples, outcomes, strict=True)):
        attribution = captured.attribution(row)
        labels = None
        if sample.boxes:
            labels = view_labels(attribution.layer_views[layers[0]], sample.boxes, rule)
        sections = _sections(
            captured.prompt_mask[row],
            captured.image_positions(row),
            labels,
            captured.question_positions[row],
        )
        rapt: dict[str, list[float]] = {name: [] for name in SECTIONS}
        aurocs = []
        for layer in layers:
            row_attention = captured.rows[layer][row].double().cpu().numpy()
            shares = relative_attention_per_token(
                row_attention, sections, captured.prompt_mask[row]
            )
            for name in SECTIONS:
                rapt[name].append(shares[name])
            ranked = labels is not None and labels.any() and not labels.all()
            scores = flat_scores(attribution.layer_views[layer])
            aurocs.append(ranking_quality(scores, labels)[0] if ranked else math.nan)
        prediction = outcome.answer if outcome.error is None else None
        correct = bool(prediction is not None and sample.answers)
        correct = correct and right(prediction or "", sample.answers) == 1.0
        diagnostics = SampleDiagnostics(
            id=sample.id,
            question=sample.question,
            answers=sample.answers,
            prediction=prediction,
            correct=correct,
            tokens={
                "prompt": int(captured.prompt_mask[row].sum()),
                **{name: int(mask.sum()) for name, mask in sections.items()},
            },
            rapt=rapt,
            auroc=aurocs,
            error=outcome.error,
        )
        results.append((diagnostics, attribution.layer_views))
    return results


def layer_table(samples: Sequence[SampleDiagnostics], num_layers: int) -> list[dict[str, Any]]:
    """Per layer: mean RAPT of each section and mean AUROC, over all samples and split by
    correctness (NaN-excluding means; None where no sample contributes)."""
    groups = {
        "all": list(samples),
        "correct": [s for s in samples if s.correct],
        "incorrect": [s for s in samples if not s.correct],
    }
    rows = []
    for layer in range(num_layers):
        row: dict[str, Any] = {"layer": layer}
        for split, members in groups.items():
            for name in SECTIONS:
                mean = nan_excluding_mean([s.rapt[name][layer] for s in members]).mean
                row[f"rapt_{name}_{split}"] = None if math.isnan(mean) else mean
            mean = nan_excluding_mean([s.auroc[layer] for s in members]).mean
            row[f"auroc_{split}"] = None if math.isnan(mean) else mean
        rows.append(row)
    return rows


def choose_layers(
    table: Sequence[dict[str, Any]], given: Sequence[int] | None, top_frac: float
) -> tuple[list[int], str]:
    """The given layers, else the top ``ceil(top_frac · L)`` by this run's mean AUROC."""
    if given:
        return sorted(given), "given"
    means = {row["layer"]: row["auroc_all"] for row in table}
    return top_layers(means, top_frac), f"top {top_frac:g} by mean AUROC in this analysis"


def run_analysis(
    attributor: Any,
    answerer: Any,
    samples: Sequence[ProfileSample],
    excluded: Sequence[ExcludedSample],
    given_layers: Sequence[int] | None = None,
    top_frac: float = TOP_FRAC,
    rule: LabelRule = LABEL_RULE,
    batch_size: int = ATTRIBUTION_BATCH_SIZE,
    progress: Any = None,
    protocol: str = ANALYZE_PROTOCOL,
) -> Analysis:
    """Diagnose every sample in batches, build the per-layer table, pick the chosen layers.

    ``protocol`` names the scoring protocol that splits right from wrong answers.
    """
    scoring = get_protocol(protocol)
    diagnostics: list[SampleDiagnostics] = []
    sheet: list[SheetSource] = []
    excluded = list(excluded)

    def exclude(sample: ProfileSample, error: Exception) -> None:
        reason = f"attribute: {describe_exception(error)}"
        excluded.append(ExcludedSample(id=sample.id, reason=reason))

    def diagnose(batch: list[ProfileSample]) -> list[tuple[ProfileSample, Any]]:
        # any exception of one sample (capture, answer, measuring) excludes that sample alone
        results = batch_then_one_by_one(
            batch,
            lambda group: diagnose_batch(attributor, answerer, group, rule, scoring),
            exclude,
            errors=(Exception,),
        )
        return [(s, r) for s, r in zip(batch, results, strict=True) if r is not None]

    for start in range(0, len(samples), batch_size):
        batch = list(samples[start : start + batch_size])
        for sample, (result, layer_views) in diagnose(batch):
            diagnostics.append(result)
            if len(sheet) < CONTACT_SHEET_SAMPLES:
                sheet.append(SheetSource(sample, layer_views, result))
        if progress is not None:
            progress(len(batch))
    if not diagnostics:
        raise ConfigError(f"no sample could be analysed ({len(excluded)} excluded)")
    table = layer_table(diagnostics, attributor.num_layers)
    chosen, source = choose_layers(table, given_layers, top_frac)
    return Analysis(
        model_id=attributor.model_id,
        num_layers=attributor.num_layers,
        chosen_layers=chosen,
        layer_source=source,
        samples=diagnostics,
        excluded=excluded,
        protocol=scoring,
        table=table,
        sheet=sheet,
    )
