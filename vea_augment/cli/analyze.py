"""``vea-augment analyze``: "seeing but not believing" diagnostics by decoder layer."""

from __future__ import annotations

from typing import Any

import click

from vea_augment import options as defaults
from vea_augment.cli import common


@click.command("analyze")
@common.model_option("Hub id or local directory of the VLM.")
@common.input_option(f"Samples (ideally with evidence boxes): {common.INPUT_HELP}")
@common.output_option("Folder for analysis.json, layers.csv and the PNG figures.", folder=True)
@common.count_option("--limit", defaults.PROFILE_LIMIT, "Samples to analyse (the first ones).")
@common.layer_options(
    profile_help="A profile.json, or a model id with published layers.",
    layers_help="Chosen layers to mark and map, e.g. 18,22,24.",
)
@common.top_frac_option(
    "Without --layers/--profile: mark the top ceil(frac x L) layers by this run's AUROC."
)
@common.count_option("--batch-size", defaults.ATTRIBUTION_BATCH_SIZE, "Samples per forward pass.")
@common.option(
    "--protocol",
    default=defaults.ANALYZE_PROTOCOL,
    type=click.Choice(defaults.SCORE_PROTOCOL_CHOICES),
    help="The scoring protocol whose headline metric splits right from wrong answers "
    "(paper: the paper's EM, a reference contained in the answer).",
)
@common.input_reading_options
@common.model_loading_options
@common.progress_option
def analyze_command(**options: Any) -> None:
    """Seeing-but-not-believing diagnostics: attention by layer, split by correctness.

    Per decoder layer: the relative attention per token (RAPT) of the question's tokens (the
    paper's text section), of every non-image token, of image, evidence and non-evidence
    image tokens, and the AUROC of the image attention against the evidence boxes, each over
    all samples and split by whether the base-prompt answer (greedy) was right under
    --protocol (default: the paper's EM). Writes analysis.json, layers.csv, rapt_by_layer.png,
    evidence_by_layer.png, auroc_by_layer.png and contact_sheet.png.
    """
    from vea_augment.attribution.layer_choice import resolve_layers
    from vea_augment.jobs.analyze import analyze_source

    given = None
    if options["layers"] or options["profile"]:
        given, _ = resolve_layers(options["model"], options["layers"], options["profile"])
    analysis, paths = analyze_source(
        options["input_"],
        options["output"],
        options["model"],
        common.model_options(options),
        options["limit"],
        given,
        options["top_frac"],
        batch_size=options["batch_size"],
        show_progress=not options["no_progress"],
        reading=common.input_options(options),
        max_pixels=options["max_image_pixels"],
        protocol=options["protocol"],
    )
    right = sum(sample.correct for sample in analysis.samples)
    click.echo(
        f"{len(analysis.samples)} samples analysed ({right} answered right), "
        f"{len(analysis.excluded)} excluded; chosen layers "
        f"{','.join(map(str, analysis.chosen_layers))} ({analysis.layer_source})"
    )
    for path in paths:
        click.echo(f"wrote {path}")
