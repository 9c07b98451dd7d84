"""``analyze``: the paper's "seeing but not believing" diagnostics for one model.

Per sample, one capture pass over every decoder layer gives the last prompt token's attention
over the whole prompt; per layer it yields the relative attention per token (RAPT) of the
text, the image, the evidence image tokens and the other image tokens, and the AUROC of the
image-token scores against the evidence boxes. The model also answers with the base prompt
(greedy, 50 tokens), scored by exact match, so every curve can be split by whether the answer
was right. The paper's finding is that attention moves to the image with depth and that deep
layers find the evidence even when the answer is wrong.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vea_augment._version import __version__
from vea_augment.answering.methods import METHODS
from vea_augment.errors import ConfigError, VEAError
from vea_augment.method.answer_metrics import NORMALIZER_NAME, exact_match
from vea_augment.method.labels import LabelRule
from vea_augment.method.layer_profile import (
    flat_scores,
    ranking_quality,
    relative_attention_per_token,
    top_layers,
    view_labels,
)
from vea_augment.method.pipeline import evidence_mask
from vea_augment.method.ranking_metrics import nan_excluding_mean
from vea_augment.method.types import TokenView
from vea_augment.reports.plots import Curve, SheetItem, plot_by_layer, plot_contact_sheet
from vea_augment.schemas.profile import ExcludedSample
from vea_augment.steps.profile import ProfileSample

if TYPE_CHECKING:
    from vea_augment.models.loading import LoadOptions

SECTIONS = ("text", "image", "evidence", "non_evidence")
SPLITS = ("all", "correct", "incorrect")
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
    table: list[dict[str, Any]] = field(default_factory=list)
    sheet: list[SheetSource] = field(default_factory=list)


def _sections(
    prompt: np.ndarray, image_positions: np.ndarray, labels: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Boolean masks over the key positions of one row for each section."""
    image = np.zeros_like(prompt)
    image[image_positions] = True
    evidence = np.zeros_like(prompt)
    if labels is not None:
        evidence[image_positions[labels]] = True
    return {
        "text": prompt & ~image,
        "image": image & prompt,
        "evidence": evidence & prompt,
        "non_evidence": image & ~evidence & prompt if labels is not None else evidence,
    }


def diagnose_batch(
    attributor: Any,
    answerer: Any,
    samples: Sequence[ProfileSample],
    rule: LabelRule = "any",
) -> list[tuple[SampleDiagnostics, dict[int, list[TokenView]]]]:
    """Capture every layer for a batch, answer it with the base prompt, measure each sample."""
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
        sections = _sections(captured.prompt_mask[row], captured.image_positions(row), labels)
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
        correct = correct and exact_match(prediction or "", sample.answers) == 1.0
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


def _column(table: Sequence[dict[str, Any]], key: str) -> list[float]:
    return [math.nan if row[key] is None else row[key] for row in table]


def write_plots(analysis: Analysis, directory: Path) -> list[Path]:
    """The four figures: RAPT text vs image, evidence vs non-evidence by correctness, AUROC
    by layer with the chosen layers marked, and the contact sheet."""
    table, chosen = analysis.table, analysis.chosen_layers
    n_right = sum(s.correct for s in analysis.samples)
    n_wrong = len(analysis.samples) - n_right
    paths = [
        plot_by_layer(
            directory / "rapt_by_layer.png",
            [
                Curve("text tokens", _column(table, "rapt_text_all"), "-", "tab:blue"),
                Curve("image tokens", _column(table, "rapt_image_all"), "-", "tab:orange"),
            ],
            f"Relative attention per token of the last prompt token ({len(analysis.samples)} "
            "samples)",
            "RAPT (1 = the prompt's average per token)",
            chosen,
            (1.0, "prompt average"),
        ),
        plot_by_layer(
            directory / "evidence_by_layer.png",
            [
                Curve(
                    f"evidence, right ({n_right})",
                    _column(table, "rapt_evidence_correct"),
                    "-",
                    "tab:green",
                ),
                Curve(
                    f"evidence, wrong ({n_wrong})",
                    _column(table, "rapt_evidence_incorrect"),
                    "--",
                    "tab:green",
                ),
                Curve(
                    f"non-evidence, right ({n_right})",
                    _column(table, "rapt_non_evidence_correct"),
                    "-",
                    "tab:grey",
                ),
                Curve(
                    f"non-evidence, wrong ({n_wrong})",
                    _column(table, "rapt_non_evidence_incorrect"),
                    "--",
                    "tab:grey",
                ),
            ],
            "Attention on evidence vs other image tokens, by answer correctness",
            "RAPT",
            chosen,
            (1.0, "prompt average"),
        ),
        plot_by_layer(
            directory / "auroc_by_layer.png",
            [
                Curve("all samples", _column(table, "auroc_all"), "-", "tab:purple"),
                Curve(f"base right ({n_right})", _column(table, "auroc_correct"), "-", "tab:green"),
                Curve(
                    f"base wrong ({n_wrong})", _column(table, "auroc_incorrect"), "--", "tab:red"
                ),
            ],
            "Evidence ranking (AUROC) of the last token's image attention",
            "AUROC against the evidence boxes",
            chosen,
            (0.5, "chance"),
        ),
    ]
    items = []
    for source in analysis.sheet:
        views = [source.layer_views[layer] for layer in chosen]
        mean_views = [
            TokenView(
                v.name, np.mean([views[k][i].scores for k in range(len(views))], axis=0), v.boxes
            )
            for i, v in enumerate(views[0])
        ]
        width, height = source.sample.image.size
        diagnostics = source.diagnostics
        verdict = "right" if diagnostics.correct else "wrong"
        answer = diagnostics.prediction if diagnostics.prediction is not None else "(error)"
        items.append(
            SheetItem(
                image=np.asarray(source.sample.image),
                heat=evidence_mask(mean_views, width, height),
                boxes=source.sample.boxes,
                title=f"{diagnostics.question[:38]}\nA: {answer[:30]} ({verdict})",
                correct=diagnostics.correct,
            )
        )
    if items:
        paths.append(plot_contact_sheet(directory / "contact_sheet.png", items))
    return paths


def _json_safe(value: Any) -> Any:
    """NaN (an undefined share or AUROC) as null, so the file is strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


def run_analysis(
    attributor: Any,
    answerer: Any,
    samples: Sequence[ProfileSample],
    excluded: Sequence[ExcludedSample],
    given_layers: Sequence[int] | None = None,
    top_frac: float = 0.1,
    rule: LabelRule = "any",
    batch_size: int = 4,
    progress: Any = None,
) -> Analysis:
    """Diagnose every sample in batches, build the per-layer table, pick the chosen layers."""
    diagnostics: list[SampleDiagnostics] = []
    sheet: list[SheetSource] = []
    excluded = list(excluded)

    def diagnose(batch: list[ProfileSample]) -> list[tuple[ProfileSample, Any]]:
        try:
            return list(zip(batch, diagnose_batch(attributor, answerer, batch, rule), strict=True))
        except VEAError as exc:
            if len(batch) == 1:
                excluded.append(ExcludedSample(id=batch[0].id, reason=f"attribute: {exc}"))
                return []
            # One bad sample must not sink its batch-mates.
            return [pair for sample in batch for pair in diagnose([sample])]

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
        table=table,
        sheet=sheet,
    )


def analyze_source(
    source: str,
    output: Path,
    model: str,
    load: LoadOptions,
    limit: int,
    given_layers: Sequence[int] | None = None,
    top_frac: float = 0.1,
    batch_size: int = 4,
    show_progress: bool = True,
    **reading: Any,
) -> tuple[Analysis, list[Path]]:
    """Diagnose the first ``limit`` samples of ``source`` with ``model`` (loaded with
    ``load``) and write the tables and figures into ``output``.

    ``reading`` goes to the input reader (shard size, image root, pixel limit). Returns the
    analysis and the paths written.
    """
    from tqdm import tqdm

    from vea_augment.answering.transformers_backend import TransformersBackend
    from vea_augment.attribution.attributor import Attributor
    from vea_augment.steps.profile import collect_profile_samples

    samples, excluded = collect_profile_samples(source, limit, require_boxes=False, **reading)
    attributor = Attributor.from_pretrained(model, [0], load)
    answerer = TransformersBackend(
        attributor.model, attributor.processor, attributor.model_id, batch_size
    )
    with tqdm(total=len(samples), unit="sample", desc="analyze",
              disable=not show_progress) as bar:  # fmt: skip
        analysis = run_analysis(
            attributor,
            answerer,
            samples,
            excluded,
            given_layers,
            top_frac,
            batch_size=batch_size,
            progress=bar.update,
        )
    return analysis, write_tables(analysis, output) + write_plots(analysis, output)


def write_tables(analysis: Analysis, directory: Path) -> list[Path]:
    """``analysis.json`` (everything) and ``layers.csv`` (the per-layer table)."""
    directory.mkdir(parents=True, exist_ok=True)
    summary = {
        "model": analysis.model_id,
        "tool_version": __version__,
        "num_layers": analysis.num_layers,
        "chosen_layers": analysis.chosen_layers,
        "layer_source": analysis.layer_source,
        "prompt": "base",
        "normalizer": NORMALIZER_NAME,
        "n_samples": len(analysis.samples),
        "n_correct": sum(s.correct for s in analysis.samples),
        "excluded": [item.model_dump() for item in analysis.excluded],
        "layers": analysis.table,
        "samples": [_json_safe(asdict(sample)) for sample in analysis.samples],
    }
    json_path = directory / "analysis.json"
    json_path.write_text(json.dumps(summary, indent=2, allow_nan=True) + "\n", encoding="utf-8")
    csv_path = directory / "layers.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(analysis.table[0]))
        writer.writeheader()
        writer.writerows(analysis.table)
    return [json_path, csv_path]
