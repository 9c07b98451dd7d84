"""``vea-augment augment``: evidence-highlighted images and mask sidecars as shards."""

from __future__ import annotations

from typing import Any

import click

from vea_augment import options as defaults
from vea_augment.cli import common
from vea_augment.options import BoundaryMode, MaskConfig, MaskPreset, OnError

PAPER_MASK = MaskConfig()

_MASK_KNOBS = (
    ("alpha", "Eq. 4 dimming floor: pixel x (alpha + (1 - alpha) x map)."),
    ("sigma", "Eq. 3 blur: <= 1 fraction of the shorter side, > 1 pixels, 0 off."),
    ("lam", "Eq. 2 spike factor: a token above lam x its neighbours' max is replaced."),
)
mask_options = common.apply_all(
    *(
        common.option(f"--{knob}", default=getattr(PAPER_MASK, knob), type=float, help=text)
        for knob, text in _MASK_KNOBS
    ),
    common.option(
        "--boundary",
        type=common.literal_choice(BoundaryMode),
        default=defaults.BOUNDARY,
        help="Eq. 3 blur at the image border: reflect (mirror, the paper's), constant (zeros) "
        "or normalized (blur divided by the blur of the image's support).",
    ),
    common.option("--no-denoise", is_flag=True, help="Ablation: skip Eq. 2."),
    common.option("--no-smooth", is_flag=True, help="Ablation: skip Eq. 3."),
    common.option(
        "--preset",
        type=common.literal_choice(MaskPreset),
        default=defaults.MASK_PRESET,
        help="Whose sigma, lambda, denoise and boundary: the profile's measured choice "
        "(default when --profile holds one) or the paper's; explicit options win over both.",
    ),
)
"""The paper's post-processing knobs (defaults: MaskConfig's) and its two ablations."""


def mask_config(values: dict[str, Any]) -> MaskConfig:
    """The :class:`MaskConfig` that :data:`mask_options` collected."""
    knobs = {knob: values[knob] for knob, _ in _MASK_KNOBS}
    return MaskConfig(
        **knobs,
        boundary=values["boundary"],
        denoise=not values["no_denoise"],
        smooth=not values["no_smooth"],
    )


@click.command("augment")
@common.model_option("Hub id or local directory of the VLM that attributes (may be a delegate).")
@common.input_option(common.INPUT_HELP)
@common.output_option(
    "Output folder or fsspec URL (s3://bucket/prefix, gs://..., file://...) for shard-NNNNN.tar, "
    "_stats/ and _manifest.json; object stores need their fsspec package (s3fs, gcsfs) and take "
    "credentials from the usual environment (AWS_*, AWS_ENDPOINT_URL, fsspec config).",
    folder=True,
    urls=True,
)
@common.layer_options(
    profile_help="A profile.json from `vea-augment profile`, or a model id with published layers.",
    layers_help="Decoder layers to read, e.g. 18,22,24 (0-based).",
)
@mask_options
@common.count_option("--batch-size", defaults.ATTRIBUTION_BATCH_SIZE, "Samples per forward pass.")
@common.count_option(
    "--limit",
    None,
    "Augment only the first N samples (a quick look): whole shards, and the shard N falls "
    "in written as partial (stats _stats/shard-N.partial.json), which any later run redoes.",
)
@common.num_actors_option("Model actors")
@common.option("--keep-original", is_flag=True, help="Also store the original image (orig.<ext>).")
@common.option(
    "--image-format",
    type=click.Choice(["jpg", "png", "webp"]),
    help="Output image format (default: the input's).",
)
@common.option(
    "--on-error",
    type=common.literal_choice(OnError),
    default=defaults.ON_ERROR,
    help="A failed sample is written unhighlighted with an error sidecar, or left out "
    "(it is counted in _stats either way).",
)
@common.overwrite_option
@common.input_reading_options
@common.model_loading_options
@common.ray_options
def augment_command(**options: Any) -> None:
    """Write evidence-highlighted images and mask sidecars as WebDataset shards.

    Each input shard N becomes output shard N with, per sample, the highlighted image at its
    original resolution, mask.png, scores.npy and a json (the input record as it was, and a
    `vea` block saying how the mask was made or why it failed, with the VEA conversation).
    Failed samples have the same members (the original image). A rerun with the same
    --output skips finished shards; other options, model or input into it are refused
    (naming what changed) unless --overwrite. Exit status: 1 when a shard or every sample
    failed, 128 + the signal when SIGINT/SIGTERM stopped it (a rerun resumes).
    """
    from vea_augment.attribution.layer_choice import resolve_layers
    from vea_augment.jobs.augment import AugmentJob, run_augment_job
    from vea_augment.steps.augment import AugmentSettings

    layers, layer_source = resolve_layers(options["model"], options["layers"], options["profile"])
    from vea_augment.attribution.mask_choice import describe_sources, resolve_mask
    from vea_augment.cli.mask_preset import explicit_knobs

    explicit = explicit_knobs(click.get_current_context())
    mask, mask_sources = resolve_mask(
        mask_config(options), explicit, options["preset"], options["profile"]
    )
    job = AugmentJob(
        input=options["input_"],
        output=options["output"],
        model=options["model"],
        layers=layers,
        loading=common.model_options(options),
        settings=AugmentSettings(
            mask=mask,
            mask_sources=mask_sources,
            **common.pick(options, "batch_size", "keep_original", "image_format", "on_error"),
            max_pixels=options["max_image_pixels"],
        ),
        reading=common.input_options(options),
        limit=options["limit"],
        overwrite=options["overwrite"],
        **common.placement(options),
    )
    click.echo(f"layers {','.join(map(str, layers))} ({layer_source})", err=True)
    click.echo(describe_sources(mask, mask_sources), err=True)
    summary = run_augment_job(job, show_progress=not options["no_progress"])
    common.finish(summary, f"output: {job.output}")
