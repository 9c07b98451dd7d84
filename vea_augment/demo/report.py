"""The demo's closing results (issue 17 item 6): base, VEA with the paper's settings, VEA
with the profile's settings and the oracle, on clean and on degraded scenes, and the sheet
that shows, per sample, the raw token map beside the two final masks.

Nothing here runs a model: the numbers are read from what the demo wrote (the score reports
and the augmented shards' sidecars), so they are whatever the bundled model makes of the
corpus. A scene is clean when its record's ``dataset`` is the corpus's ``synthetic-clean``
and degraded otherwise (``synthetic-<degradation>``), the split the score report already
makes by dataset.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from vea_augment.data.readers import read_shard
from vea_augment.data.sources import plan_input
from vea_augment.method.mask_quality import mask_auroc
from vea_augment.method.oracle import oracle_mask
from vea_augment.method.types import MaskConfig
from vea_augment.options import InputOptions
from vea_augment.reports.plots import ComparisonRow, plot_mask_comparison
from vea_augment.schemas.report import ScoreReport

Condition = Literal["clean", "degraded"]
CONDITIONS: tuple[Condition, ...] = ("clean", "degraded")
CLEAN_DATASET = "synthetic-clean"
EM_METRIC = "paper.exact_match"
"""The paper protocol's EM, as the score report keys it."""
RESULTS_NAME = "demo_results"
SHEET_NAME = "demo_contact_sheet.png"
MISSING = "-"


def condition_of(dataset: str | None) -> Condition:
    """``clean`` for the corpus's clean scenes, ``degraded`` for every other dataset."""
    return "clean" if dataset == CLEAN_DATASET else "degraded"


def describe_mask(mask: MaskConfig) -> str:
    """The post-processing values a row was made with: "σ 0.5, λ 10, reflect"."""
    lam = f"λ {mask.lam:g}" if mask.denoise else "λ off (no denoise)"
    return f"σ {mask.sigma:g}, {lam}, {mask.boundary}"


@dataclass(frozen=True)
class WrittenSample:
    """One ok sample of an augment output, as written."""

    key: str
    record: dict[str, Any]
    members: dict[str, bytes]

    @property
    def sidecar(self) -> dict[str, Any]:
        return self.record["vea"]

    @property
    def condition(self) -> Condition:
        dataset = self.record.get("dataset")
        return condition_of(dataset if isinstance(dataset, str) else None)

    def auroc(self) -> float | None:
        """The sidecar's pixel AUROC of the written mask, None when it was not measured."""
        quality = self.sidecar.get("mask_quality")
        return float(quality["auroc"]) if quality else None


def written_samples(folder: Path) -> Iterator[WrittenSample]:
    """The ok samples of an augment output folder, in shard order (error records left out:
    the augment summary already counted them)."""
    for task in plan_input(str(folder), InputOptions()):
        for raw in read_shard(task):
            vea = (raw.record or {}).get("vea")
            if isinstance(vea, dict) and vea.get("status") == "ok":
                yield WrittenSample(raw.key, raw.record or {}, dict(raw.extras))


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def mask_auroc_by_condition(samples: Sequence[WrittenSample]) -> dict[Condition, float | None]:
    """Mean pixel AUROC of the written masks per condition, over the samples measured."""
    found: dict[Condition, list[float]] = {condition: [] for condition in CONDITIONS}
    for sample in samples:
        value = sample.auroc()
        if value is not None:
            found[sample.condition].append(value)
    return {condition: _mean(values) for condition, values in found.items()}


def oracle_auroc_by_condition(samples: Sequence[WrittenSample]) -> dict[Condition, float | None]:
    """The same mean for the oracle's mask (the boxes, ``method/oracle``), measured the same
    way on each sample's image size: 1.0 unless a box covers the whole image."""
    found: dict[Condition, list[float]] = {condition: [] for condition in CONDITIONS}
    for sample in samples:
        boxes, size = sample.record.get("evidence_boxes"), sample.sidecar.get("image_size")
        if not boxes or not size:
            continue
        value = mask_auroc(oracle_mask(boxes, int(size[0]), int(size[1])), boxes)
        if not math.isnan(value):
            found[sample.condition].append(value)
    return {condition: _mean(values) for condition, values in found.items()}


def exact_match_by_condition(
    report: ScoreReport, method: str
) -> tuple[dict[Condition, float | None], dict[Condition, int]]:
    """``method``'s EM per condition (its datasets' rows weighted by their samples) and the
    number of samples behind each."""
    sums = dict.fromkeys(CONDITIONS, 0.0)
    counts = dict.fromkeys(CONDITIONS, 0)
    for row in report.rows:
        interval = row.scores.get(EM_METRIC)
        if row.method != method or interval is None or interval.value is None:
            continue
        condition = condition_of(row.dataset)
        sums[condition] += interval.value * row.n
        counts[condition] += row.n
    means = {c: (sums[c] / counts[c] if counts[c] else None) for c in CONDITIONS}
    return means, counts


@dataclass
class ResultRow:
    """One line of the demo table."""

    name: str
    method: str
    shards: str
    settings: str
    exact_match: dict[Condition, float | None]
    n: dict[Condition, int]
    mask_auroc: dict[Condition, float | None]
    mask_auroc_from: str
    mask: dict[str, Any] | None = None
    mask_sources: dict[str, str] = field(default_factory=dict)


def _mask_fields(mask: MaskConfig) -> dict[str, Any]:
    return {"sigma": mask.sigma, "lam": mask.lam, "denoise": mask.denoise,
            "boundary": mask.boundary}  # fmt: skip


@dataclass(frozen=True)
class AugmentedRun:
    """One augment output of the demo and the mask settings it was made with."""

    label: str
    folder: Path
    mask: MaskConfig
    sources: dict[str, str]
    report: ScoreReport


def result_rows(paper: AugmentedRun, profile: AugmentedRun) -> list[ResultRow]:
    """The four rows: base, VEA (paper settings), VEA (profile settings), oracle."""
    paper_samples = list(written_samples(paper.folder))
    profile_samples = list(written_samples(profile.folder))
    none: dict[Condition, float | None] = dict.fromkeys(CONDITIONS)

    def row(name: str, method: str, run: AugmentedRun, settings: str, **auroc: Any) -> ResultRow:
        em, n = exact_match_by_condition(run.report, method)
        return ResultRow(name, method, run.folder.name, settings, em, n, **auroc)

    return [
        row("base", "base", paper, "original image, base prompt",
            mask_auroc=none, mask_auroc_from="no mask"),
        row("VEA (paper settings)", "vea", paper, describe_mask(paper.mask),
            mask_auroc=mask_auroc_by_condition(paper_samples),
            mask_auroc_from="the written masks (sidecar mask_quality)",
            mask=_mask_fields(paper.mask), mask_sources=paper.sources),
        row("VEA (profile settings)", "vea", profile, describe_mask(profile.mask),
            mask_auroc=mask_auroc_by_condition(profile_samples),
            mask_auroc_from="the written masks (sidecar mask_quality)",
            mask=_mask_fields(profile.mask), mask_sources=profile.sources),
        row("oracle", "oracle", paper, "mask = the ground-truth boxes",
            mask_auroc=oracle_auroc_by_condition(paper_samples),
            mask_auroc_from="the boxes' own mask, measured like the others"),
    ]  # fmt: skip


def _cell(value: float | None) -> str:
    return MISSING if value is None else f"{value:.3f}"


def _points(a: float | None, b: float | None) -> str:
    return MISSING if a is None or b is None else f"{100 * (a - b):+.1f}"


def results_markdown(rows: Sequence[ResultRow], degradation: str) -> str:
    """The demo table as Markdown, with what each column is and how the rows compare."""
    head = (
        f"| row | post-processing | EM clean | EM {degradation} | mask AUROC clean "
        f"| mask AUROC {degradation} |"
    )
    lines = [
        f"## Demo results: base, VEA and oracle on clean and {degradation} scenes",
        "",
        f"EM: the paper protocol's exact match (`{EM_METRIC}`), as fractions. Mask AUROC: the "
        "mean pixel AUROC of the masks against the evidence boxes; `-`: base has no mask; the "
        "oracle's mask is the boxes themselves. Reported as they fall.",
        "",
        head,
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        cells = [row.name, row.settings, _cell(row.exact_match["clean"])]
        cells += [_cell(row.exact_match["degraded"]), _cell(row.mask_auroc["clean"])]
        cells.append(_cell(row.mask_auroc["degraded"]))
        lines.append("| " + " | ".join(cells) + " |")
    base = rows[0].exact_match
    lines.append("")
    lines.append(f"n per condition: {rows[0].n['clean']} clean, {rows[0].n['degraded']} "
                 f"{degradation}. EM against base, in points (clean / {degradation}):")  # fmt: skip
    for row in rows[1:]:
        clean = _points(row.exact_match["clean"], base["clean"])
        degraded = _points(row.exact_match["degraded"], base["degraded"])
        lines.append(f"- {row.name}: {clean} / {degraded}")
    return "\n".join(lines) + "\n"


def write_results(
    output: Path, rows: Sequence[ResultRow], degradation: str, extra: dict[str, Any]
) -> tuple[Path, Path, str]:
    """``demo_results.md`` and ``demo_results.json`` in ``output``; returns both paths and
    the Markdown."""
    text = results_markdown(rows, degradation)
    markdown, data = output / f"{RESULTS_NAME}.md", output / f"{RESULTS_NAME}.json"
    markdown.write_text(text, encoding="utf-8")
    payload = {
        "metric": EM_METRIC,
        "conditions": {"clean": CLEAN_DATASET, "degraded": f"synthetic-{degradation}"},
        "rows": [asdict(row) for row in rows],
        **extra,
    }
    data.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return markdown, data, text


# --------------------------------------------------------------------------------------------
# The contact sheet


def _gray(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as opened:
        return np.asarray(opened.convert("L"), dtype=np.float64) / 255.0


def _original(sample: WrittenSample) -> np.ndarray:
    kept = next((v for k, v in sample.members.items() if k.startswith("orig.")), None)
    if kept is None:
        raise ValueError(f"sample {sample.key!r} keeps no original (augment --keep-original)")
    with Image.open(io.BytesIO(kept)) as opened:
        return np.asarray(opened.convert("RGB"))


def token_map(sample: WrittenSample) -> tuple[np.ndarray, str]:
    """The raw scores of the chosen layers as the first view's token grid, and its name.

    ``scores.npy`` holds one view's ``(rows, cols)`` grid, or every view flattened in order
    (augment's layout); the first view is its first ``rows * cols`` values."""
    scores = np.load(io.BytesIO(sample.members["scores.npy"]), allow_pickle=False)
    view = sample.sidecar["views"][0]
    rows, cols = int(view["rows"]), int(view["cols"])
    grid = np.asarray(scores, dtype=np.float64).reshape(-1)[: rows * cols].reshape(rows, cols)
    return grid, f"{view['name']} {rows}x{cols}"


def _auroc_text(sample: WrittenSample) -> str:
    value = sample.auroc()
    return "" if value is None else f", AUROC {value:.2f}"


def sheet_rows(paper: AugmentedRun, profile: AugmentedRun, count: int) -> list[ComparisonRow]:
    """The first ``count`` clean samples written ok under both settings, in shard order."""
    by_key = {s.key: s for s in written_samples(profile.folder) if s.condition == "clean"}
    layers = ",".join(map(str, next(iter(by_key.values())).sidecar["layers"])) if by_key else ""
    rows = []
    for mine in written_samples(paper.folder):
        if len(rows) == count:
            break
        theirs = by_key.get(mine.key)
        if theirs is None or mine.condition != "clean":
            continue
        grid, view = token_map(mine)
        answers = mine.record.get("answers") or [mine.record.get("answer", "")]
        question = str(mine.record.get("question", ""))[:48]
        panels = [
            (f"token map, layers {layers} ({view})", grid),
            (f"mask, profile{_auroc_text(theirs)}\n{describe_mask(profile.mask)}",
             _gray(theirs.members["mask.png"])),
            (f"mask, paper{_auroc_text(mine)}\n{describe_mask(paper.mask)}",
             _gray(mine.members["mask.png"])),
        ]  # fmt: skip
        boxes = mine.record.get("evidence_boxes") or []
        rows.append(ComparisonRow(_original(mine), boxes, f"{question}\n→ {answers[0]}", panels))
    return rows


def write_contact_sheet(
    output: Path, paper: AugmentedRun, profile: AugmentedRun, count: int
) -> Path:
    """``demo_contact_sheet.png``: per clean sample, the image with its boxes, the raw token
    map of the chosen layers, the profile's and the paper's final masks, boxes on each."""
    return plot_mask_comparison(
        output / SHEET_NAME,
        sheet_rows(paper, profile, count),
        "clean samples: raw token map of the chosen layers and the final masks "
        "(green: ground-truth boxes)",
    )
