"""``vea-augment profile``: find a model's visual-grounding layers (method step 1)."""

from __future__ import annotations

import sys
from typing import Any

import click

from vea_augment import options as defaults
from vea_augment.cli import common
from vea_augment.options import LabelRule


@click.command("profile")
@common.model_option("Hub id or local directory of the VLM.")
@common.input_option(f"Samples with evidence boxes: {common.INPUT_HELP}")
@common.output_option(
    "Where to write the profile (pass it to augment --profile).",
    folder=False,
    default=defaults.PROFILE_OUTPUT,
)
@common.count_option(
    "--limit",
    defaults.PROFILE_LIMIT,
    "Samples with boxes to profile on (the paper uses about 100).",
)
@common.top_frac_option("Keep the top ceil(frac x L) layers by mean AUROC.")
@common.option(
    "--label-rule",
    type=common.literal_choice(LabelRule),
    default=defaults.LABEL_RULE,
    help="A token is evidence if any / half / all of its box lies inside the evidence boxes.",
)
@common.option("--per-head", is_flag=True, help="Also score every attention head.")
@common.count_option("--batch-size", defaults.ATTRIBUTION_BATCH_SIZE, "Samples per forward pass.")
@common.num_actors_option("Model actors")
@common.overwrite_option
@common.input_reading_options
@common.model_loading_options
@common.ray_options
def profile_command(**options: Any) -> None:
    """Find a model's visual-grounding layers from samples with evidence boxes (step A).

    One capture pass per batch over every decoder layer (no eager attention); per layer the
    mean and spread of AUROC and NDCG of the last token's image attention against the boxes;
    the chosen layers are the top ceil(top-frac x L) by mean AUROC. Samples without boxes
    are excluded and listed with the reason. An existing --output made with other options
    is refused unless --overwrite; exit status 1 when a chunk of samples failed.
    """
    from vea_augment.jobs.profile import ProfileJob, run_profile
    from vea_augment.steps.postprocessing import postprocessing_lines

    job = ProfileJob(
        model=options["model"],
        loading=common.model_options(options),
        input=options["input_"],
        rule=options["label_rule"],
        **common.pick(options, "output", "limit", "top_frac", "per_head", "batch_size"),
        reading=common.input_options(options),
        max_pixels=options["max_image_pixels"],
        overwrite=options["overwrite"],
        **common.placement(options),
    )
    run = run_profile(job, show_progress=not options["no_progress"])
    profile = run.profile
    click.echo(
        f"{profile.sample_count} samples profiled, {len(profile.excluded)} excluded; "
        f"L = {profile.num_layers}"
    )
    click.echo("layer  AUROC mean (std)   NDCG mean   n")
    score = common.format_score
    for row in profile.layers:
        mark = "  <- chosen" if row.layer in profile.chosen_layers else ""
        click.echo(
            f"{row.layer:>5}  {score(row.auroc_mean)} ({score(row.auroc_std)})  "
            f"{score(row.ndcg_mean)}     {row.n_samples}{mark}"
        )
    click.echo(f"chosen layers: {','.join(map(str, profile.chosen_layers))}")
    click.echo("\n".join(postprocessing_lines(profile.postprocessing)))
    click.echo(f"profile: {job.output}  (use: vea-augment augment --profile {job.output})")
    for failure in run.failures:
        click.echo(f"  failed: {failure}")
    if run.failures:
        sys.exit(1)
