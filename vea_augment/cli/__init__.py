"""The ``vea-augment`` command line: parse options, build a job, run it.

One module per command; the option groups they share and the one error wrapper (every
:class:`~vea_augment.errors.VEAError` becomes ``Error: <reason>`` and exit 1) live in
:mod:`vea_augment.cli.common`, and every default comes from :mod:`vea_augment.options`.
"""

from __future__ import annotations

import click

from vea_augment._version import __version__
from vea_augment.cli.analyze import analyze_command
from vea_augment.cli.answer import answer_command
from vea_augment.cli.augment import augment_command
from vea_augment.cli.common import ReportingGroup
from vea_augment.cli.config import apply_group_options, group_options
from vea_augment.cli.demo import demo_command
from vea_augment.cli.export import export_command
from vea_augment.cli.info import models_command, self_check_command
from vea_augment.cli.profile import profile_command
from vea_augment.cli.score import score_command


@click.group(cls=ReportingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vea-augment")
@group_options
@click.pass_context
def cli(ctx: click.Context, config_file, quiet: bool, log_level: str | None) -> None:
    """Visual Evidence Augmentation (VEA, arXiv 2510.17771) at dataset scale.

    A VLM's deep layers attend to the evidence region of an image even when it then answers
    wrongly. VEA reads that attention in one prefill pass, turns it into an evidence map, and
    dims everything else. This tool does it for whole corpora:

    \b
      profile   find a model's visual-grounding layers (once per model)
      augment   write evidence-highlighted images + mask sidecars as WebDataset shards
      answer    answer the shards' questions with any VLM (base / inst / vea ...)
      score     exact match, token F1, ANLS, VQA accuracy; gains over base
      export    augmented shards as LLaVA JSON, ShareGPT JSONL or parquet for fine-tuning
      analyze   "seeing but not believing" diagnostics and plots
      demo      the whole flow on a bundled synthetic corpus and tiny model, offline
      models    supported model families and the paper's published layers
      self-check  verify this installation (versions, contracts, the math, Ray)

    Group options go before the command: vea-augment -q --config run.toml augment ...
    """
    apply_group_options(ctx, config_file, quiet, log_level)


for _command in (
    self_check_command,
    models_command,
    profile_command,
    augment_command,
    answer_command,
    score_command,
    export_command,
    analyze_command,
    demo_command,
):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="vea-augment")


__all__ = ["cli", "main"]
