"""``vea-augment self-check`` and ``vea-augment models``: what this installation can do."""

from __future__ import annotations

import sys

import click


@click.command("self-check")
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


@click.command("models")
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
