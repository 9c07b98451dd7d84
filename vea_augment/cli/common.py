"""What the commands share: the one error wrapper and the option groups, with the defaults
read from :mod:`vea_augment.options`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import click

from vea_augment import options as defaults
from vea_augment.errors import VEAError
from vea_augment.options import ModelOptions

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


class ReportingGroup(click.Group):
    """A command group that turns every :class:`VEAError` into a one-line error and exit 1.

    The single place where the tool's own errors meet the terminal: commands raise, this
    prints ``Error: <reason>`` instead of a traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except VEAError as exc:
            raise click.ClickException(str(exc)) from exc


def _apply(decorators: tuple[Decorator, ...]) -> Decorator:
    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(decorators):
            command = option(command)
        return command

    return decorate


model_loading_options = _apply(
    (
        click.option(
            "--dtype",
            default=defaults.DTYPE,
            show_default=True,
            help="Model weights dtype: auto (bfloat16 on CUDA, float32 on CPU), float32, "
            "bfloat16, float16.",
        ),
        click.option("--device", help="Device for the model (default: cuda if there, else cpu)."),
        click.option("--trust-remote-code", is_flag=True, help="Allow the checkpoint's own code."),
    )
)
"""--dtype, --device and --trust-remote-code, for every command that loads a model."""


def model_options(values: Mapping[str, Any]) -> ModelOptions:
    """The :class:`ModelOptions` that :data:`model_loading_options` collected."""
    return ModelOptions(
        dtype=str(values["dtype"]),
        device=values["device"],
        trust_remote_code=bool(values["trust_remote_code"]),
    )


input_reading_options = _apply(
    (
        click.option(
            "--samples-per-shard",
            default=defaults.SAMPLES_PER_SHARD,
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
            default=defaults.MAX_IMAGE_PIXELS,
            show_default=True,
            type=int,
            help="Refuse images with more pixels (decompression bombs).",
        ),
    )
)
"""--samples-per-shard, --image-root and --max-pixels, for commands that read samples."""

ray_options = _apply(
    (
        click.option(
            "--address", help="Join an existing Ray cluster (e.g. auto); default: local Ray."
        ),
        click.option("--no-progress", is_flag=True, help="No progress bar."),
    )
)
"""--address and --no-progress, for the commands that run a Ray job."""


def batch_size_option(default: int, help_text: str) -> Decorator:
    """--batch-size with the command's own default."""
    return click.option(
        "--batch-size",
        default=default,
        show_default=True,
        type=click.IntRange(min=1),
        help=help_text,
    )


def num_actors_option(what: str) -> Decorator:
    """--num-actors: how many actors of ``what`` to start."""
    return click.option(
        "--num-actors",
        type=click.IntRange(min=1),
        help=f"{what} (default: one per GPU, or 1 on a CPU-only cluster).",
    )


def model_option(help_text: str) -> Decorator:
    """--model / -m, required."""
    return click.option("--model", "-m", required=True, help=help_text)


def input_option(help_text: str) -> Decorator:
    """--input / -i, required, as ``input_``."""
    return click.option("--input", "-i", "input_", required=True, help=help_text)


def layer_options(profile_help: str, layers_help: str) -> Decorator:
    """--layers and --profile: where the visual-grounding layers come from."""
    return _apply(
        (
            click.option("--layers", help=layers_help),
            click.option("--profile", help=profile_help),
        )
    )


def top_frac_option(help_text: str) -> Decorator:
    """--top-frac, the share of layers to keep."""
    return click.option(
        "--top-frac",
        default=defaults.TOP_FRAC,
        show_default=True,
        type=click.FloatRange(min=0, max=1, min_open=True),
        help=help_text,
    )


def format_score(value: float | None) -> str:
    """A score to three decimals, or a dash where there is none."""
    return "  -  " if value is None else f"{value:.3f}"
