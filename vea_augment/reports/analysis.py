"""The files of ``analyze``: ``analysis.json``, ``layers.csv`` and the four figures."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from vea_augment._version import __version__
from vea_augment.method.pipeline import evidence_mask
from vea_augment.method.types import TokenView
from vea_augment.reports.plots import Curve, SheetItem, plot_by_layer, plot_contact_sheet
from vea_augment.steps.analyze import SECTIONS, Analysis

#: What each RAPT section of ``analysis.json`` and ``layers.csv`` counts.
SECTION_MEANINGS = {
    "question": "the question's own tokens (the paper release's text section)",
    "text": "every non-image token of the prompt (instructions and chat template included)",
    "image": "every image token",
    "evidence": "image tokens labelled evidence against the boxes",
    "non_evidence": "the other image tokens",
}
assert tuple(SECTION_MEANINGS) == SECTIONS


def _column(table: Sequence[dict[str, Any]], key: str) -> list[float]:
    return [math.nan if row[key] is None else row[key] for row in table]


def write_plots(analysis: Analysis, directory: Path) -> list[Path]:
    """The four figures: RAPT of the question (the paper's text section; every non-image
    token dashed) vs the image, evidence vs non-evidence by correctness, AUROC by layer
    with the chosen layers marked, and the contact sheet."""
    table, chosen = analysis.table, analysis.chosen_layers
    n_right = sum(s.correct for s in analysis.samples)
    n_wrong = len(analysis.samples) - n_right
    paths = [
        plot_by_layer(
            directory / "rapt_by_layer.png",
            [
                Curve("question tokens", _column(table, "rapt_question_all"), "-", "tab:blue"),
                Curve("all non-image tokens", _column(table, "rapt_text_all"), "--", "tab:blue"),
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
        "protocol": analysis.protocol.name,
        "right_means": f"full credit on {analysis.protocol.primary}",
        "normalizer": analysis.protocol.normalizer,
        "sections": SECTION_MEANINGS,
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
