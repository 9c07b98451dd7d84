"""``vea-augment score``: answer metrics under named protocols and gains over base."""

from __future__ import annotations

from pathlib import Path

import click

from vea_augment import options as defaults
from vea_augment.cli import common


@click.command("score")
@click.argument("predictions", type=click.Path(dir_okay=False, path_type=Path))
@common.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Report prefix: writes PREFIX.json, PREFIX.md and PREFIX.png "
    "(default: beside the predictions, named <predictions>.report).",
)
@common.option(
    "--resamples",
    default=defaults.BOOTSTRAP_RESAMPLES,
    type=click.IntRange(min=0),
    help="Bootstrap resamples for the 95 % intervals (0: no intervals).",
)
@common.no_processor_pixels
@common.option("--seed", default=defaults.BOOTSTRAP_SEED, help="Bootstrap seed.")
@common.option(
    "--protocols",
    "--protocol",
    "protocols",
    help="Scoring protocols, comma-separated, from "
    f"{', '.join(defaults.SCORE_PROTOCOL_CHOICES)}; the first decides wins/losses and the "
    "seeing-not-believing split. Chosen protocols are "
    f"computed wherever defined. Default: {defaults.SCORE_PROTOCOLS}, each where it applies "
    "(vqa: ten references per sample; relaxed: datasets named *chart*).",
)
def score_command(
    predictions: Path, output: Path | None, resamples: int, seed: int, protocols: str | None
) -> None:
    """Score predictions under named protocols, with gains over base.

    Per dataset and method: the paper's EM (containment, qa-metrics) beside strict EM, F1,
    ANLS, VQA accuracy where ten answers exist, ChartQA relaxed accuracy on charts, each
    with a bootstrap 95 % interval; paired wins/losses against base and the "seeing but not
    believing" split (mask AUROC when base was right vs wrong), on the paper's EM unless
    --protocols puts another protocol first. Writes a Markdown report (printed too), a JSON
    report and a bar chart of the gains.
    """
    from vea_augment.jobs.score import write_score_report

    prefix = output or predictions.with_name(predictions.stem + ".report")
    _, paths = write_score_report(predictions, prefix, resamples, seed, protocols)
    click.echo(paths[1].read_text(encoding="utf-8"))
    for path in paths:
        click.echo(f"wrote {path}")
