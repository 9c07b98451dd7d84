"""The ``vea-augment`` command line. It only parses options and calls the library."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from vea_augment._version import __version__
from vea_augment.errors import VEAError


def _model_loading_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--dtype, --device and --trust-remote-code, shared by every command that loads a model."""
    for option in reversed(
        (
            click.option(
                "--dtype",
                default="auto",
                show_default=True,
                help="Model weights dtype: auto, float32, bfloat16, float16.",
            ),
            click.option(
                "--device", help="Device for the model (default: cuda if there, else cpu)."
            ),
            click.option(
                "--trust-remote-code", is_flag=True, help="Allow the checkpoint's own code."
            ),
        )
    ):
        command = option(command)
    return command


def _input_reading_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--samples-per-shard, --image-root and --max-pixels, for commands that read samples."""
    for option in reversed(
        (
            click.option(
                "--samples-per-shard",
                default=1000,
                show_default=True,
                type=click.IntRange(min=1),
                help="Shard size when the input is JSONL.",
            ),
            click.option(
                "--image-root",
                type=click.Path(file_okay=False),
                help="Folder that JSONL image paths are relative to (default: the JSONL's).",
            ),
            click.option(
                "--max-pixels",
                default=100_000_000,
                show_default=True,
                type=int,
                help="Refuse images with more pixels (decompression bombs).",
            ),
        )
    ):
        command = option(command)
    return command


def _ray_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--address and --no-progress, for the commands that run a Ray job."""
    command = click.option("--no-progress", is_flag=True, help="No progress bar.")(command)
    return click.option(
        "--address", help="Join an existing Ray cluster (e.g. auto); default: local Ray."
    )(command)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vea-augment")
def cli() -> None:
    """Visual Evidence Augmentation (VEA, arXiv 2510.17771) at dataset scale.

    A VLM's deep layers attend to the evidence region of an image even when it then answers
    wrongly. VEA reads that attention in one prefill pass, turns it into an evidence map, and
    dims everything else. This tool does it for whole corpora:

    \b
      profile   find a model's visual-grounding layers (once per model)
      augment   write evidence-highlighted images + mask sidecars as WebDataset shards
      answer    answer the shards' questions with any VLM (base / inst / vea ...)
      score     exact match, token F1, ANLS, VQA accuracy; gains over base
      analyze   "seeing but not believing" diagnostics and plots
      demo      the whole flow on a bundled synthetic corpus and tiny model, offline
      models    supported model families and the paper's published layers
      self-check  verify this installation (versions, contracts, the math, Ray)
    """


@cli.command("self-check")
@click.option("--skip-ray", is_flag=True, help="Do not start a local Ray instance.")
def self_check_command(skip_ray: bool) -> None:
    """Verify the installation: package versions, contracts, the paper's math, Ray.

    Runs in seconds with no network and no GPU; exits non-zero if any check fails.
    """
    from vea_augment.selfcheck import run_self_check

    results = run_self_check(include_ray=not skip_ray)
    width = max(len(result.name) for result in results)
    for result in results:
        mark = "ok  " if result.passed else "FAIL"
        click.echo(f"[{mark}] {result.name.ljust(width)}  {result.detail}")
    failed = [result for result in results if not result.passed]
    if failed:
        click.echo(f"{len(failed)} of {len(results)} checks failed.", err=True)
        sys.exit(1)
    click.echo(f"all {len(results)} checks passed.")


@cli.command("models")
def models_command() -> None:
    """List supported model families and the paper's published visual-grounding layers."""
    from vea_augment.models.published_layers import PUBLISHED_LAYERS
    from vea_augment.models.registry import registered_adapters

    click.echo("Attribution adapters (model_type -> family; tested with):")
    adapters = registered_adapters()
    if not adapters:
        click.echo("  (none registered)")
    width = max((len(adapter.family) for adapter in adapters.values()), default=0)
    for model_type, adapter in adapters.items():
        tested = ", ".join(adapter.tested_with) or "-"
        click.echo(f"  {model_type:<14} {adapter.family:<{width}}  {tested}")
    click.echo("")
    click.echo("Published visual-grounding layers (0-based decoder indices, arXiv 2510.17771):")
    for entry in PUBLISHED_LAYERS.values():
        layers = ",".join(str(layer) for layer in entry.layers)
        click.echo(f"  {entry.model_id:<32} L={entry.num_layers:<3} L_VG={layers}")
    click.echo("")
    click.echo("Answering (vea-augment answer) works with any VLM; it needs no adapter.")


@cli.command("profile")
@click.option("--model", "-m", required=True, help="Hub id or local directory of the VLM.")
@click.option(
    "--input",
    "-i",
    "input_",
    required=True,
    help="Samples with evidence boxes: WebDataset shards, a JSONL file, or a folder.",
)
@click.option(
    "--output",
    "-o",
    default="profile.json",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the profile (pass it to augment --profile).",
)
@click.option(
    "--limit",
    default=100,
    show_default=True,
    type=click.IntRange(min=1),
    help="Samples with boxes to profile on (the paper uses about 100).",
)
@click.option(
    "--top-frac",
    default=0.1,
    show_default=True,
    type=click.FloatRange(min=0, max=1, min_open=True),
    help="Keep the top ceil(frac x L) layers by mean AUROC.",
)
@click.option(
    "--label-rule",
    type=click.Choice(["any", "half", "all"]),
    default="any",
    show_default=True,
    help="A token is evidence if any / half / all of its box lies inside the evidence boxes.",
)
@click.option("--per-head", is_flag=True, help="Also score every attention head.")
@click.option("--batch-size", default=4, show_default=True, type=click.IntRange(min=1))
@click.option("--num-actors", type=click.IntRange(min=1), help="Default: one per GPU, else 1.")
@_input_reading_options
@_model_loading_options
@_ray_options
def profile_command(**options: Any) -> None:
    """Find a model's visual-grounding layers from samples with evidence boxes (step A).

    One capture pass per batch over every decoder layer (no eager attention); per layer the
    mean and spread of AUROC and NDCG of the last token's image attention against the boxes;
    the chosen layers are the top ceil(top-frac x L) by mean AUROC. Samples without boxes
    are excluded and listed with the reason.
    """
    from vea_augment.distributed.workers import ModelSpec
    from vea_augment.jobs.profile import ProfileJob, run_profile_job

    job = ProfileJob(
        model=ModelSpec(
            options["model"],
            (0,),
            dtype=options["dtype"],
            device=options["device"],
            trust_remote_code=options["trust_remote_code"],
        ),
        input=options["input_"],
        output=options["output"],
        limit=options["limit"],
        top_frac=options["top_frac"],
        rule=options["label_rule"],
        per_head=options["per_head"],
        batch_size=options["batch_size"],
        samples_per_shard=options["samples_per_shard"],
        image_root=options["image_root"],
        max_pixels=options["max_pixels"],
        num_actors=options["num_actors"],
        address=options["address"],
    )
    try:
        profile = run_profile_job(job, show_progress=not options["no_progress"])
    except VEAError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"{profile.sample_count} samples profiled, {len(profile.excluded)} excluded; "
        f"L = {profile.num_layers}"
    )
    click.echo("layer  AUROC mean (std)   NDCG mean   n")
    for row in profile.layers:
        mark = "  <- chosen" if row.layer in profile.chosen_layers else ""
        click.echo(
            f"{row.layer:>5}  {_fmt(row.auroc_mean)} ({_fmt(row.auroc_std)})  "
            f"{_fmt(row.ndcg_mean)}     {row.n_samples}{mark}"
        )
    click.echo(f"chosen layers: {','.join(map(str, profile.chosen_layers))}")
    click.echo(f"profile: {job.output}  (use: vea-augment augment --profile {job.output})")


def _fmt(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.3f}"


@cli.command("augment")
@click.option(
    "--model",
    "-m",
    required=True,
    help="Hub id or local directory of the VLM that attributes (may be a delegate).",
)
@click.option(
    "--input",
    "-i",
    "input_",
    required=True,
    help="WebDataset shards (paths, brace patterns, URLs, pipe:), a JSONL file, or "
    "a folder with one JSONL and its images.",
)
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(file_okay=False),
    help="Output folder for shard-NNNNN.tar, _stats/ and _manifest.json.",
)
@click.option("--layers", help="Decoder layers to read, e.g. 18,22,24 (0-based).")
@click.option(
    "--profile",
    help="A profile.json from `vea-augment profile`, or a model id with published layers.",
)
@click.option(
    "--alpha",
    default=0.5,
    show_default=True,
    type=float,
    help="Eq. 4 dimming floor: pixel x (alpha + (1 - alpha) x map).",
)
@click.option(
    "--sigma",
    default=0.5,
    show_default=True,
    type=float,
    help="Eq. 3 blur: <= 1 fraction of the shorter side, > 1 pixels, 0 off.",
)
@click.option(
    "--lam",
    default=10.0,
    show_default=True,
    type=float,
    help="Eq. 2 spike factor: a token above lam x its neighbours' max is replaced.",
)
@click.option("--no-denoise", is_flag=True, help="Ablation: skip Eq. 2.")
@click.option("--no-smooth", is_flag=True, help="Ablation: skip Eq. 3.")
@click.option(
    "--batch-size",
    default=4,
    show_default=True,
    type=click.IntRange(min=1),
    help="Samples per forward pass.",
)
@click.option(
    "--num-actors",
    type=click.IntRange(min=1),
    help="Model actors (default: one per GPU, or 1 on a CPU-only cluster).",
)
@click.option("--keep-original", is_flag=True, help="Also store the original image (orig.<ext>).")
@click.option(
    "--image-format",
    type=click.Choice(["jpg", "png", "webp"]),
    help="Output image format (default: the input's).",
)
@click.option(
    "--on-error",
    type=click.Choice(["passthrough", "skip"]),
    default="passthrough",
    show_default=True,
    help="A failed sample is written unhighlighted with an error sidecar, or left out "
    "(it is counted in _stats either way).",
)
@_input_reading_options
@_model_loading_options
@_ray_options
def augment_command(**options: object) -> None:
    """Write evidence-highlighted images and mask sidecars as WebDataset shards.

    Each input shard N becomes output shard N with, per sample, the highlighted image at its
    original resolution, mask.png, scores.npy and a json (the input record, a LLaVA/ShareGPT
    conversation, and a `vea` block saying how the mask was made or why it failed). A rerun
    with the same --output skips finished shards.
    """
    from pathlib import Path

    from vea_augment.attribution.layer_choice import resolve_layers
    from vea_augment.jobs.augment import AugmentJob, ModelSpec, run_augment_job
    from vea_augment.method.types import MaskConfig
    from vea_augment.steps.augment import AugmentSettings

    try:
        layers, layer_source = resolve_layers(
            str(options["model"]), options["layers"], options["profile"]
        )
        mask = MaskConfig(
            alpha=options["alpha"],
            sigma=options["sigma"],
            lam=options["lam"],
            denoise=not options["no_denoise"],
            smooth=not options["no_smooth"],
        )
        job = AugmentJob(
            input=str(options["input_"]),
            output=Path(str(options["output"])),
            model=ModelSpec(
                str(options["model"]),
                layers,
                str(options["dtype"]),
                options["device"],
                bool(options["trust_remote_code"]),
            ),
            settings=AugmentSettings(
                mask=mask,
                batch_size=options["batch_size"],
                keep_original=bool(options["keep_original"]),
                image_format=options["image_format"],
                on_error=options["on_error"],
                max_pixels=options["max_pixels"],
            ),
            samples_per_shard=options["samples_per_shard"],
            image_root=options["image_root"],
            num_actors=options["num_actors"],
            address=options["address"],
        )
        click.echo(f"layers {','.join(map(str, layers))} ({layer_source})", err=True)
        summary = run_augment_job(job, show_progress=not options["no_progress"])
    except VEAError as exc:
        raise click.ClickException(str(exc)) from exc
    for line in summary.lines():
        click.echo(line)
    click.echo(f"output: {job.output}")
    if summary.shards_failed:
        sys.exit(1)


@cli.command("answer")
@click.option(
    "--model",
    "-m",
    required=True,
    help="Hub id or local directory of any image-text VLM (no adapter needed), or the model "
    "name to request from --endpoint.",
)
@click.option(
    "--input",
    "-i",
    "input_",
    required=True,
    help="The shards written by `vea-augment augment` (folder, paths or brace pattern).",
)
@click.option(
    "--output",
    "-o",
    default="predictions.jsonl",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Predictions file; a rerun appends only what is missing.",
)
@click.option(
    "--methods",
    default="base,inst,vea",
    show_default=True,
    help="Comma-separated: base (QA prompt, original), inst (VEA prompt, original), vea "
    "(VEA prompt, highlighted), vea-no-prompt (QA prompt, highlighted), vea-both (VEA prompt, "
    "original and highlighted).",
)
@click.option(
    "--endpoint",
    help="Base URL of an OpenAI-compatible server (e.g. http://host:8000/v1); default: load "
    "the model locally with transformers.",
)
@click.option(
    "--api-key-env",
    default="OPENAI_API_KEY",
    show_default=True,
    help="Environment variable holding the endpoint's API key (sent if set).",
)
@click.option("--timeout", default=60.0, show_default=True, help="Seconds per endpoint request.")
@click.option(
    "--attempts",
    default=3,
    show_default=True,
    type=click.IntRange(min=1),
    help="Endpoint tries per request (exponential backoff between them).",
)
@click.option(
    "--concurrency",
    default=8,
    show_default=True,
    type=click.IntRange(min=1),
    help="Endpoint requests in flight per actor.",
)
@click.option(
    "--batch-size",
    default=8,
    show_default=True,
    type=click.IntRange(min=1),
    help="Prompts per generate() call (transformers backend).",
)
@click.option(
    "--retry-errors", is_flag=True, help="Answer again the predictions that failed last time."
)
@click.option(
    "--num-actors",
    type=click.IntRange(min=1),
    help="Answering actors (default: one per GPU, or 1 on a CPU-only cluster).",
)
@_model_loading_options
@_ray_options
def answer_command(**options: Any) -> None:
    """Answer the questions of augmented shards with any VLM, under each method.

    Greedy decoding, at most 50 new tokens; one prediction line per sample and method, with
    the prompt, the images sent, timing and (where the sample has evidence boxes) the pixel
    AUROC of its mask. A sample that cannot be answered is recorded as an error with the
    reason; the run goes on. Then run `vea-augment score PREDICTIONS`.
    """
    from vea_augment.answering.endpoint_backend import EndpointSettings
    from vea_augment.answering.factory import BackendSpec
    from vea_augment.answering.methods import parse_methods
    from vea_augment.jobs.answer import AnswerJob, run_answer_job

    try:
        endpoint = None
        if options["endpoint"]:
            endpoint = EndpointSettings(
                url=options["endpoint"],
                model=options["model"],
                api_key_env=options["api_key_env"],
                timeout_s=options["timeout"],
                attempts=options["attempts"],
                concurrency=options["concurrency"],
            )
        backend = BackendSpec(
            kind="endpoint" if endpoint else "transformers",
            model=options["model"],
            dtype=options["dtype"],
            device=options["device"],
            trust_remote_code=options["trust_remote_code"],
            batch_size=options["batch_size"],
            endpoint=endpoint,
        )
        job = AnswerJob(
            input=options["input_"],
            output=options["output"],
            backend=backend,
            methods=tuple(parse_methods(options["methods"])),
            num_actors=options["num_actors"],
            address=options["address"],
            retry_errors=options["retry_errors"],
        )
        summary = run_answer_job(job, show_progress=not options["no_progress"])
    except VEAError as exc:
        raise click.ClickException(str(exc)) from exc
    for line in summary.lines():
        click.echo(line)
    click.echo(f"predictions: {job.output}")
    if summary.shards_failed:
        sys.exit(1)


@cli.command("score")
@click.argument("predictions", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Report prefix: writes PREFIX.json, PREFIX.md and PREFIX.png "
    "(default: beside the predictions, named <predictions>.report).",
)
@click.option(
    "--resamples",
    default=1000,
    show_default=True,
    type=click.IntRange(min=0),
    help="Bootstrap resamples for the 95 % intervals (0: no intervals).",
)
@click.option("--seed", default=0, show_default=True, help="Bootstrap seed.")
def score_command(predictions: Path, output: Path | None, resamples: int, seed: int) -> None:
    """Score predictions: exact match, token F1, ANLS, VQA accuracy, gains over base.

    Per dataset and method, with bootstrap 95 % intervals, paired wins/losses against base,
    and the "seeing but not believing" split (mask AUROC when base was right vs wrong).
    Writes a Markdown report (printed too), a JSON report and a bar chart of the gains.
    """
    from vea_augment.steps.score import write_score_report

    prefix = output or predictions.with_name(predictions.stem + ".report")
    try:
        _, paths = write_score_report(predictions, prefix, resamples, seed)
    except VEAError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(paths[1].read_text(encoding="utf-8"))
    for path in paths:
        click.echo(f"wrote {path}")


@cli.command("analyze")
@click.option("--model", "-m", required=True, help="Hub id or local directory of the VLM.")
@click.option(
    "--input",
    "-i",
    "input_",
    required=True,
    help="Samples (ideally with evidence boxes): WebDataset shards, a JSONL file, or a folder.",
)
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for analysis.json, layers.csv and the PNG figures.",
)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1))
@click.option("--layers", help="Chosen layers to mark and map, e.g. 18,22,24.")
@click.option("--profile", help="A profile.json, or a model id with published layers.")
@click.option(
    "--top-frac",
    default=0.1,
    show_default=True,
    type=click.FloatRange(min=0, max=1, min_open=True),
    help="Without --layers/--profile: mark the top ceil(frac x L) layers by this run's AUROC.",
)
@click.option("--batch-size", default=4, show_default=True, type=click.IntRange(min=1))
@_input_reading_options
@_model_loading_options
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def analyze_command(**options: Any) -> None:
    """Seeing-but-not-believing diagnostics: attention by layer, split by correctness.

    Per decoder layer: the relative attention per token (RAPT) of text, image, evidence and
    non-evidence image tokens, and the AUROC of the image attention against the evidence
    boxes, each over all samples and split by whether the base-prompt answer (greedy, exact
    match) was right. Writes analysis.json, layers.csv, rapt_by_layer.png,
    evidence_by_layer.png, auroc_by_layer.png and contact_sheet.png.
    """
    import torch

    from vea_augment.attribution.layer_choice import resolve_layers
    from vea_augment.models.loading import LoadOptions
    from vea_augment.steps.analyze import analyze_source

    try:
        given = None
        if options["layers"] or options["profile"]:
            given, _ = resolve_layers(options["model"], options["layers"], options["profile"])
        device = options["device"] or ("cuda" if torch.cuda.is_available() else "cpu")
        load = LoadOptions(
            dtype=options["dtype"], device=device, trust_remote_code=options["trust_remote_code"]
        )
        analysis, paths = analyze_source(
            options["input_"],
            options["output"],
            options["model"],
            load,
            options["limit"],
            given,
            options["top_frac"],
            batch_size=options["batch_size"],
            show_progress=not options["no_progress"],
            samples_per_shard=options["samples_per_shard"],
            image_root=options["image_root"],
            max_pixels=options["max_pixels"],
        )
    except VEAError as exc:
        raise click.ClickException(str(exc)) from exc
    right = sum(sample.correct for sample in analysis.samples)
    click.echo(
        f"{len(analysis.samples)} samples analysed ({right} answered right), "
        f"{len(analysis.excluded)} excluded; chosen layers "
        f"{','.join(map(str, analysis.chosen_layers))} ({analysis.layer_source})"
    )
    for path in paths:
        click.echo(f"wrote {path}")


@cli.command("demo")
@click.option(
    "--output",
    "-o",
    default="vea-demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the corpus, profile, shards, predictions, report and attention figures.",
)
@click.option(
    "--samples",
    default=48,
    show_default=True,
    type=click.IntRange(min=2),
    help="Synthetic samples per condition (clean, and the same scenes degraded).",
)
@click.option(
    "--degradation",
    type=click.Choice(["noise", "blur", "mask"]),
    default="noise",
    show_default=True,
    help="The degraded condition of the paper's robustness experiment.",
)
@click.option("--no-progress", is_flag=True, help="No progress bars.")
def demo_command(output: Path, samples: int, degradation: str, no_progress: bool) -> None:
    """Run the whole flow offline on the bundled tiny model and a synthetic corpus.

    Generates a corpus (clean, and the same scenes degraded), profiles the bundled model's
    layers, augments the corpus on a local Ray cluster, answers with base and vea prompts,
    scores, draws attention by layer (split by whether base answered right), and prints
    where everything is.
    """
    from vea_augment.demo.run import DemoSettings, run_demo

    settings = DemoSettings(
        output=output,
        samples=samples,
        profile_samples=min(32, samples),
        degradation=degradation,
        show_progress=not no_progress,
    )
    try:
        result = run_demo(settings)
    except VEAError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(result.report_text)
    click.echo("Where everything is:")
    click.echo(f"  corpus (input shards)     {result.corpus}")
    profile_label = f"profile (layers {','.join(map(str, result.chosen_layers))})"
    click.echo(f"  {profile_label:<25} {result.profile}")
    click.echo(f"  highlighted shards, masks {result.shards}")
    click.echo(f"  predictions               {result.predictions}")
    for path in result.report:
        click.echo(f"  report                    {path}")
    for path in result.figures:
        click.echo(f"  attention by layer        {path}")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="vea-augment")


if __name__ == "__main__":
    main()
