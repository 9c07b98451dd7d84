"""``vea-augment demo``: the whole flow on the bundled model and a fresh synthetic corpus.

Generate a clean corpus and the same scenes degraded, profile the bundled model, augment the
corpus on a local Ray cluster with the profiled layers, answer with the base and VEA methods,
score, and draw the diagnostics (attention by layer, split by whether base answered right).
Everything runs offline from the installed package.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vea_augment.demo.corpus import Degradation, generate_samples, write_webdataset
from vea_augment.demo.training.recipe import BUNDLED_MODEL_DIR, bundled_recipe
from vea_augment.errors import ConfigError
from vea_augment.options import DEMO_DEGRADATION, DEMO_SAMPLES, ModelOptions
from vea_augment.steps.augment import AugmentSettings

DEMO_SEED = 20251020
DEMO_METHODS = "base,vea"
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
    model: Path = BUNDLED_MODEL_DIR
    show_progress: bool = True


@dataclass
class DemoResult:
    """Where everything is, for the closing summary (``figures``: the analysis's files)."""

    corpus: Path
    profile: Path
    shards: Path
    predictions: Path
    report: list[Path]
    figures: list[Path] = field(default_factory=list)
    chosen_layers: list[int] = field(default_factory=list)
    report_text: str = ""


def _say(step: str, show: bool) -> None:
    if show:
        print(f"==> {step}", flush=True)


def run_demo(settings: DemoSettings, say: Callable[[str, bool], None] = _say) -> DemoResult:
    """Run every step in order and return where the outputs are."""
    import ray

    from vea_augment.answering.factory import BackendSpec
    from vea_augment.answering.methods import parse_methods
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
    say(f"corpus: {settings.samples} clean samples and the same scenes with "
        f"{settings.degradation}", show)  # fmt: skip
    kinds = tuple(bundled_recipe(settings.model).get("kinds", ("shapes",)))
    clean = generate_samples(settings.samples, DEMO_SEED, kinds=kinds, dataset="synthetic-clean")
    degraded = generate_samples(
        settings.samples,
        DEMO_SEED,
        kinds=kinds,
        degradation=settings.degradation,
        dataset=f"synthetic-{settings.degradation}",
    )
    corpus = output / "corpus"
    write_webdataset(clean + degraded, corpus, settings.samples_per_shard)
    source = str(corpus)
    model = str(settings.model)
    started_ray = connect(None)
    try:
        say("profile: every decoder layer against the generated boxes", show)
        profile_path = output / "profile.json"
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
        say(f"augment: highlight with layers {','.join(map(str, layers))}", show)
        shards = output / "augmented"
        run_augment_job(
            AugmentJob(
                input=source,
                output=shards,
                model=model,
                layers=layers,
                loading=FLOAT32,
                settings=AugmentSettings(batch_size=8, keep_original=True),
            ),
            show_progress=show,
        )
        say(f"answer: {DEMO_METHODS} with the bundled model", show)
        predictions = output / "predictions.jsonl"
        run_answer_job(
            AnswerJob(
                input=str(shards),
                output=predictions,
                backend=BackendSpec("transformers", model, FLOAT32, batch_size=16),
                methods=tuple(parse_methods(DEMO_METHODS)),
            ),
            show_progress=show,
        )
    finally:
        if started_ray:
            ray.shutdown()
    say("score", show)
    _, report = write_score_report(predictions, output / "report")
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
        shards=shards,
        predictions=predictions,
        report=report,
        figures=figures,
        chosen_layers=list(layers),
        report_text=report[1].read_text(encoding="utf-8"),
    )
