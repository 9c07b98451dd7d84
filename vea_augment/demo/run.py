"""``vea-augment demo``: the whole flow on the bundled model and a fresh synthetic corpus.

Generate a clean corpus and the same scenes degraded, profile the bundled model, augment the
corpus twice on a local Ray cluster with the profiled layers (the paper's post-processing,
and the one the profile chose), answer with base, vea and oracle on the first and vea on the
second, score both, write the demo table (``demo/report.py``) and its contact sheet, and
draw the diagnostics (attention by layer, split by whether base answered right). Everything
runs offline from the installed package.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vea_augment.demo.corpus import Degradation, generate_samples, write_webdataset
from vea_augment.demo.report import AugmentedRun, result_rows, write_contact_sheet, write_results
from vea_augment.demo.training.recipe import BUNDLED_MODEL_DIR, bundled_recipe
from vea_augment.errors import ConfigError
from vea_augment.options import (
    DEMO_DEGRADATION,
    DEMO_SAMPLES,
    DEMO_SHEET_SAMPLES,
    MaskConfig,
    ModelOptions,
)
from vea_augment.steps.augment import AugmentSettings

DEMO_SEED = 20251020
DEMO_METHODS = "base,vea,oracle"
"""Answered on the paper-settings shards (the oracle builds its image from the kept original)."""
PROFILE_METHODS = "vea"
"""Answered on the profile-settings shards."""
FLOAT32 = ModelOptions(dtype="float32")
"""The bundled model is tiny: float32 everywhere, on whatever device is there."""


@dataclass(frozen=True)
class DemoSettings:
    """How big the demo is; the defaults finish in a few minutes on two CPU cores."""

    output: Path
    samples: int = DEMO_SAMPLES
    profile_samples: int = 32
    degradation: Degradation = DEMO_DEGRADATION
    samples_per_shard: int = 24
    sheet_samples: int = DEMO_SHEET_SAMPLES
    model: Path = BUNDLED_MODEL_DIR
    show_progress: bool = True


@dataclass
class DemoResult:
    """Where everything is, for the closing summary (``figures``: the analysis's files)."""

    corpus: Path
    profile: Path
    shards: Path
    """The shards highlighted with the paper's post-processing (``augmented-paper``)."""
    profile_shards: Path
    """The shards highlighted with the profile's choice (``augmented-profile``)."""
    predictions: Path
    profile_predictions: Path
    report: list[Path]
    profile_report: list[Path]
    results: list[Path] = field(default_factory=list)
    """``demo_results.md`` and ``.json``: the four-row table."""
    contact_sheet: Path | None = None
    figures: list[Path] = field(default_factory=list)
    chosen_layers: list[int] = field(default_factory=list)
    masks: dict[str, str] = field(default_factory=dict)
    """Label (paper, profile) -> the post-processing values, described."""
    report_text: str = ""
    results_text: str = ""


def _say(step: str, show: bool) -> None:
    if show:
        print(f"==> {step}", flush=True)


def _corpus(settings: DemoSettings, say: Callable[[str, bool], None]) -> Path:
    """Write the clean scenes and the same scenes degraded as one WebDataset corpus."""
    say(f"corpus: {settings.samples} clean samples and the same scenes with "
        f"{settings.degradation}", settings.show_progress)  # fmt: skip
    kinds = tuple(bundled_recipe(settings.model).get("kinds", ("shapes",)))
    clean = generate_samples(settings.samples, DEMO_SEED, kinds=kinds, dataset="synthetic-clean")
    degraded = generate_samples(
        settings.samples,
        DEMO_SEED,
        kinds=kinds,
        degradation=settings.degradation,
        dataset=f"synthetic-{settings.degradation}",
    )
    corpus = settings.output / "corpus"
    write_webdataset(clean + degraded, corpus, settings.samples_per_shard)
    return corpus


def run_demo(settings: DemoSettings, say: Callable[[str, bool], None] = _say) -> DemoResult:
    """Run every step in order and return where the outputs are.

    Raises :class:`ConfigError` when the bundled model is missing; a step that fails raises
    its own :class:`VEAError` (the CLI prints it as the demo's error)."""
    import ray

    from vea_augment.answering.factory import BackendSpec
    from vea_augment.answering.methods import parse_methods
    from vea_augment.attribution.mask_choice import resolve_mask
    from vea_augment.demo.report import describe_mask
    from vea_augment.distributed.cluster import connect
    from vea_augment.jobs.analyze import analyze_source
    from vea_augment.jobs.answer import AnswerJob, run_answer_job
    from vea_augment.jobs.augment import AugmentJob, run_augment_job
    from vea_augment.jobs.profile import ProfileJob, run_profile_job
    from vea_augment.jobs.score import write_score_report

    if not (settings.model / "config.json").is_file():
        raise ConfigError(
            f"the bundled model is missing at {settings.model}; reinstall the package or "
            "train it with `python -m vea_augment.demo.training.train`"
        )
    output, show = settings.output, settings.show_progress
    output.mkdir(parents=True, exist_ok=True)
    corpus = _corpus(settings, say)
    source = str(corpus)
    model = str(settings.model)
    profile_path = output / "profile.json"
    # The two post-processings: the paper's (MaskConfig's defaults), and what augment's own
    # rule takes from this profile (its choice; the paper's when it holds none).
    masks = {"paper": resolve_mask(MaskConfig(), set(), "paper", None)}
    summaries: dict[str, Any] = {}
    folders = {label: output / f"augmented-{label}" for label in ("paper", "profile")}
    predictions = {label: output / f"predictions-{label}.jsonl" for label in folders}
    predictions["paper"] = output / "predictions.jsonl"
    answered = {"paper": DEMO_METHODS, "profile": PROFILE_METHODS}
    started_ray = connect(None)
    try:
        say("profile: every decoder layer against the generated boxes", show)
        profile = run_profile_job(
            ProfileJob(
                model=model,
                loading=FLOAT32,
                input=source,
                output=profile_path,
                limit=settings.profile_samples,
                batch_size=8,
            ),
            show_progress=show,
        )
        layers = tuple(profile.chosen_layers)
        masks["profile"] = resolve_mask(MaskConfig(), set(), None, str(profile_path))
        for label, folder in folders.items():
            mask, sources = masks[label]
            say(f"augment ({label} settings: {describe_mask(mask)}): highlight with layers "
                f"{','.join(map(str, layers))}", show)  # fmt: skip
            summaries[label] = run_augment_job(
                AugmentJob(
                    input=source,
                    output=folder,
                    model=model,
                    layers=layers,
                    loading=FLOAT32,
                    settings=AugmentSettings(
                        mask=mask, mask_sources=sources, batch_size=8, keep_original=True
                    ),
                ),
                show_progress=show,
            )
        for label, folder in folders.items():
            say(f"answer: {answered[label]} on {folder.name} with the bundled model", show)
            run_answer_job(
                AnswerJob(
                    input=str(folder),
                    output=predictions[label],
                    backend=BackendSpec("transformers", model, FLOAT32, batch_size=16),
                    methods=tuple(parse_methods(answered[label])),
                ),
                show_progress=show,
            )
    finally:
        if started_ray:
            ray.shutdown()
    say("score", show)
    paper_scores, report = write_score_report(predictions["paper"], output / "report")
    profile_scores, profile_report = write_score_report(
        predictions["profile"], output / "report-profile"
    )
    say("demo table and contact sheet", show)
    runs = {
        label: AugmentedRun(label, folders[label], *masks[label], scores)
        for label, scores in (("paper", paper_scores), ("profile", profile_scores))
    }
    rows = result_rows(runs["paper"], runs["profile"])
    job_auroc = {
        label: (summary.mask_quality.mean_auroc if summary.mask_quality else None)
        for label, summary in summaries.items()
    }
    markdown, data, results_text = write_results(
        output,
        rows,
        settings.degradation,
        {"chosen_layers": list(layers), "mask_auroc_all_scenes_from_augment_summary": job_auroc},
    )
    sheet = write_contact_sheet(output, runs["paper"], runs["profile"], settings.sheet_samples)
    say("analyze: attention by layer, split by whether base answered right", show)
    _, figures = analyze_source(
        source,
        output / "analysis",
        model,
        FLOAT32,
        limit=2 * settings.samples,
        given_layers=layers,
        batch_size=8,
        show_progress=show,
    )
    return DemoResult(
        corpus=corpus,
        profile=profile_path,
        shards=folders["paper"],
        profile_shards=folders["profile"],
        predictions=predictions["paper"],
        profile_predictions=predictions["profile"],
        report=report,
        profile_report=profile_report,
        results=[markdown, data],
        contact_sheet=sheet,
        figures=figures,
        chosen_layers=list(layers),
        masks={label: describe_mask(mask) for label, (mask, _) in masks.items()},
        report_text=report[1].read_text(encoding="utf-8"),
        results_text=results_text,
    )
