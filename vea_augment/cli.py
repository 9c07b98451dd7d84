"""The ``vea-augment`` command line. It only parses options and calls the library."""

from __future__ import annotations

import sys

import click

from vea_augment._version import __version__

NOT_YET_EXIT_CODE = 2


def _not_yet(command: str, issue: str) -> None:
    click.echo(
        f"vea-augment {command}: not available in {__version__} yet ({issue}). "
        "Run `vea-augment --help` for what works now.",
        err=True,
    )
    sys.exit(NOT_YET_EXIT_CODE)


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
    for model_type, adapter in adapters.items():
        tested = ", ".join(adapter.tested_with) or "-"
        click.echo(f"  {model_type:<14} {adapter.family:<22} {tested}")
    click.echo("")
    click.echo("Published visual-grounding layers (0-based decoder indices, arXiv 2510.17771):")
    for entry in PUBLISHED_LAYERS.values():
        layers = ",".join(str(layer) for layer in entry.layers)
        click.echo(f"  {entry.model_id:<32} L={entry.num_layers:<3} L_VG={layers}")
    click.echo("")
    click.echo("Answering (vea-augment answer) works with any VLM; it needs no adapter.")


@cli.command("profile", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def profile_command(args: tuple[str, ...]) -> None:
    """Find a model's visual-grounding layers from samples with evidence boxes."""
    _not_yet("profile", "issue 6: profile and analyze")


@cli.command("augment", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def augment_command(args: tuple[str, ...]) -> None:
    """Write evidence-highlighted images and mask sidecars as WebDataset shards."""
    _not_yet("augment", "issue 5: the augment Ray job")


@cli.command("answer", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def answer_command(args: tuple[str, ...]) -> None:
    """Answer the questions of augmented shards with any VLM."""
    _not_yet("answer", "issue 7: answer and score")


@cli.command("score", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def score_command(args: tuple[str, ...]) -> None:
    """Score predictions: exact match, token F1, ANLS, VQA accuracy, gains over base."""
    _not_yet("score", "issue 7: answer and score")


@cli.command("analyze", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def analyze_command(args: tuple[str, ...]) -> None:
    """Seeing-but-not-believing diagnostics: attention by layer, split by correctness."""
    _not_yet("analyze", "issue 6: profile and analyze")


@cli.command("demo", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def demo_command(args: tuple[str, ...]) -> None:
    """Run the whole flow on a bundled synthetic corpus and tiny model, offline."""
    _not_yet("demo", "issue 8: the bundled default; run `vea-augment self-check` meanwhile")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="vea-augment")


if __name__ == "__main__":
    main()
