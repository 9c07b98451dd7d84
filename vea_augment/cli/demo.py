"""``vea-augment demo``: the whole flow offline on the bundled model and a synthetic corpus."""

from __future__ import annotations

from pathlib import Path

import click

from vea_augment import options as defaults
from vea_augment.cli import common


@click.command("demo")
@common.output_option(
    "Folder for the corpus, profile, shards, predictions, report and attention figures.",
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
    result = run_demo(settings)
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
