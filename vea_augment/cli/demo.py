"""``vea-augment demo``: the whole flow offline on the bundled model and a synthetic corpus."""

from __future__ import annotations

from pathlib import Path

import click

from vea_augment import options as defaults
from vea_augment.cli import common


@click.command("demo")
@common.output_option(
    "Folder for the corpus, profile, both shard sets, predictions, reports, the demo table, "
    "its contact sheet and the attention figures.",
    folder=True,
    default=defaults.DEMO_OUTPUT,
)
@common.option(
    "--samples",
    default=defaults.DEMO_SAMPLES,
    type=click.IntRange(min=2),
    help="Synthetic samples per condition (clean, and the same scenes degraded).",
)
@common.option(
    "--degradation",
    type=click.Choice(["noise", "blur", "mask"]),
    default=defaults.DEMO_DEGRADATION,
    help="The degraded condition of the paper's robustness experiment.",
)
@common.progress_option
def demo_command(output: Path, samples: int, degradation: str, no_progress: bool) -> None:
    """Run the whole flow offline on the bundled tiny model and a synthetic corpus.

    Generates a corpus (clean, and the same scenes degraded), profiles the bundled model's
    layers and post-processing, augments the corpus twice on a local Ray cluster (the
    paper's sigma/lambda/boundary into augmented-paper, the profile's choice into
    augmented-profile, as `augment --profile` would), answers base, vea and oracle on the
    first and vea on the second, scores both, writes demo_results.md/.json (EM and mask
    AUROC, clean and degraded, for base, VEA paper, VEA profile, oracle) and
    demo_contact_sheet.png (token map beside both masks), draws attention by layer (split
    by whether base answered right), and prints where everything is.
    """
    from vea_augment.demo.run import DemoSettings, run_demo

    settings = DemoSettings(
        output=output,
        samples=samples,
        profile_samples=min(32, samples),
        degradation=degradation,
        show_progress=not no_progress,
    )
    result = run_demo(settings)
    click.echo(result.report_text)
    click.echo(result.results_text)
    click.echo("Where everything is:")
    rows = [
        ("corpus (input shards)", result.corpus),
        (f"profile (layers {','.join(map(str, result.chosen_layers))})", result.profile),
        (f"shards, paper ({result.masks['paper']})", result.shards),
        (f"shards, profile ({result.masks['profile']})", result.profile_shards),
        ("predictions, paper shards", result.predictions),
        ("predictions, profile shards", result.profile_predictions),
        *(("report, paper shards", path) for path in result.report),
        *(("report, profile shards", path) for path in result.profile_report),
        *(("demo table", path) for path in result.results),
        ("contact sheet", result.contact_sheet),
        *(("attention by layer", path) for path in result.figures),
    ]
    width = max(len(label) for label, _ in rows)
    for label, path in rows:
        click.echo(f"  {label:<{width}}  {path}")
