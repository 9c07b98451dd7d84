"""What the commands share: the one error wrapper, a few option helpers and the option groups,
with every default read from :mod:`vea_augment.options`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, get_args

import click

from vea_augment import options as defaults
from vea_augment.errors import VEAError
from vea_augment.options import (
    GPUS_PER_ACTOR,
    ColumnMapping,
    InputFormat,
    InputOptions,
    ModelOptions,
)

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


class ReportingGroup(click.Group):
    """A command group that turns every :class:`VEAError` into a one-line error and exit 1.

    The single place where the tool's own errors meet the terminal: commands raise, this
    prints ``Error: <reason>`` instead of a traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        from vea_augment.distributed.interrupt import JobInterrupted

        try:
            return super().invoke(ctx)
        except VEAError as exc:
            raise click.ClickException(str(exc)) from exc
        except JobInterrupted as stop:  # a job without a summary of its own (answer)
            click.echo(f"Error: {stop}", err=True)
            ctx.exit(stop.exit_code)


def option(*names: str, help: str, default: Any = None, **settings: Any) -> Decorator:
    """``click.option`` that shows its default in ``--help`` whenever it has one."""
    shown = default is not None and not settings.get("is_flag", False)
    return click.option(*names, default=default, show_default=shown, help=help, **settings)


def apply_all(*decorators: Decorator) -> Decorator:
    """One decorator applying ``decorators`` in the order written (the first is outermost)."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return decorate


def literal_choice(literal: Any) -> click.Choice:
    """The values of a ``Literal`` type as a click choice: the type stays the one list."""
    return click.Choice(get_args(literal))


def count_option(name: str, default: int | None, help_text: str) -> Decorator:
    """A positive whole number: ``--batch-size``, ``--limit``, ``--attempts``..."""
    return option(name, default=default, type=click.IntRange(min=1), help=help_text)


class _FolderOrURL(click.ParamType):
    """A local folder (as a Path) or an fsspec URL such as ``s3://bucket/prefix`` (as is)."""

    name = "folder|url"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and "://" in value:
            return value
        return click.Path(file_okay=False, dir_okay=True, path_type=Path).convert(value, param, ctx)


def output_option(
    help_text: str, *, folder: bool, default: str | None = None, urls: bool = False
) -> Decorator:
    """--output / -o: a folder or a file (``urls``: or an fsspec URL), required unless it has a
    default."""
    kind = (
        _FolderOrURL()
        if urls
        else click.Path(file_okay=not folder, dir_okay=folder, path_type=Path)
    )
    return option(
        "--output",
        "-o",
        help=help_text,
        default=default,
        required=default is None,
        type=kind,
    )


def model_option(help_text: str) -> Decorator:
    """--model / -m, required."""
    return option("--model", "-m", required=True, help=help_text)


def input_option(help_text: str) -> Decorator:
    """--input / -i, required, as ``input_``."""
    return option("--input", "-i", "input_", required=True, help=help_text)


def num_actors_option(what: str) -> Decorator:
    """--num-actors: how many actors of ``what`` to start; --gpus-per-actor: what each holds."""
    return apply_all(
        count_option(
            "--num-actors",
            None,
            f"{what} (default: one per --gpus-per-actor GPUs, or 1 on a CPU-only cluster).",
        ),
        count_option(
            "--gpus-per-actor",
            GPUS_PER_ACTOR,
            "GPUs each actor reserves; above 1 its model is spread over them "
            "(device_map, whole decoder layers per GPU; attribution places only the layers "
            "up to the deepest chosen one) and the pool has floor(GPUs / K) actors.",
        ),
    )


def top_frac_option(help_text: str) -> Decorator:
    """--top-frac, the share of layers to keep."""
    fraction = click.FloatRange(min=0, max=1, min_open=True)
    return option("--top-frac", default=defaults.TOP_FRAC, type=fraction, help=help_text)


def layer_options(profile_help: str, layers_help: str) -> Decorator:
    """--layers and --profile: where the visual-grounding layers come from."""
    return apply_all(option("--layers", help=layers_help), option("--profile", help=profile_help))


def _quiet_means_no_progress(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    """--no-progress, or -q on the ``cli`` group (warnings only, no progress bars)."""
    root = ctx.find_root()
    return bool(value or (isinstance(root.obj, dict) and root.obj.get("quiet")))


progress_option = option(
    "--no-progress",
    is_flag=True,
    callback=_quiet_means_no_progress,
    help="No progress bar (also implied by vea-augment -q).",
)


def _processor_pixels(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    if value is not None and value > defaults.PROCESSOR_PIXELS_CEILING:
        flag = param.opts[0]
        raise click.BadParameter(
            f"{value:,} pixels is not a sensible processor budget (above "
            f"{defaults.PROCESSOR_PIXELS_CEILING:,}). {flag} is the image processor's resize "
            "budget (Qwen-style min_pixels/max_pixels); the decompression-bomb limit that "
            "--max-pixels used to set is now --max-image-pixels.",
            ctx=ctx,
            param=param,
        )
    return value


def _pixel_budget(name: str, bound: str) -> Decorator:
    return option(
        name,
        type=click.IntRange(min=1),
        callback=_processor_pixels,
        help=f"Image processor budget: resize each image to at {bound} this many pixels "
        "(Qwen-style processors' min_pixels/max_pixels; default: the checkpoint's; an error "
        "for processors without them). Not the decompression-bomb limit (--max-image-pixels).",
    )


model_loading_options = apply_all(
    option(
        "--dtype",
        default=defaults.DTYPE,
        help="Model weights dtype: auto (bfloat16 on CUDA, float32 on CPU), float32, "
        "bfloat16, float16.",
    ),
    option("--device", help="Device for the model (default: cuda if there, else cpu)."),
    option("--trust-remote-code", is_flag=True, help="Allow the checkpoint's own code."),
    option(
        "--revision",
        help="Hub revision (branch, tag or commit) of the model and its processor "
        "(default: the main branch).",
    ),
    option(
        "--attn-implementation",
        default=defaults.ATTN_IMPLEMENTATION,
        type=click.Choice(defaults.ATTN_IMPLEMENTATIONS),
        help="The model's attention kernel; attribution wraps it (with eager, the language "
        "model's capture wraps sdpa: same rows, eager cannot be wrapped).",
    ),
    _pixel_budget("--min-pixels", "least"),
    _pixel_budget("--max-pixels", "most"),
)
"""--dtype, --device, --trust-remote-code, --revision, --attn-implementation and the
processor's --min-pixels/--max-pixels, for every command that loads a model."""


def model_options(values: Mapping[str, Any]) -> ModelOptions:
    """The :class:`ModelOptions` that :data:`model_loading_options` collected."""
    return ModelOptions(
        dtype=str(values["dtype"]),
        device=values["device"],
        trust_remote_code=bool(values["trust_remote_code"]),
        **pick(values, "revision", "attn_implementation", "min_pixels", "max_pixels"),
    )


def _no_processor(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None:
        raise click.UsageError(
            f"{ctx.info_name} loads no model or processor, so --max-pixels (the image "
            "processor's resize budget) does not apply here; the decompression-bomb limit "
            "is --max-image-pixels (profile, augment, analyze).",
            ctx=ctx,
        )
    return value


no_processor_pixels = click.option(
    "--max-pixels", hidden=True, expose_value=False, callback=_no_processor, type=int
)
"""A hidden --max-pixels for commands without a processor (score, export): a clear error."""


INPUT_HELP = (
    "WebDataset shards (.tar, .tar.gz; paths, brace patterns, URLs, pipe:), a JSONL or JSON "
    "list of records (Visual-CoT, LLaVA), parquet files or a hub-layout folder "
    "(data/train-*.parquet), a save_to_disk folder, hf://datasets/ORG/NAME, or a folder "
    "with one JSONL/JSON and its images."
)
"""What --input takes, for every command that reads input samples."""


def _candidates(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    if not names:
        raise click.BadParameter("name at least one column")
    return names


def column_option(field: str, names: tuple[str, ...], what: str) -> Decorator:
    """--<field>-field: the column(s) of a table input holding ``what``, first present wins."""
    return option(
        f"--{field}-field",
        default=",".join(names),
        callback=_candidates,
        help=f"Table inputs: the column of {what} (comma-separated candidates, the first "
        "present wins).",
    )


input_reading_options = apply_all(
    count_option(
        "--samples-per-shard",
        defaults.SAMPLES_PER_SHARD,
        "Shard size for JSONL, JSON and table inputs (a tar shard keeps its size).",
    ),
    option(
        "--image-root",
        type=click.Path(file_okay=False),
        help="Folder that relative image paths are relative to (default: the JSONL/JSON "
        "file's folder, or the input folder of a table).",
    ),
    option(
        "--allow-external-images",
        is_flag=True,
        default=defaults.ALLOW_EXTERNAL_IMAGES,
        help="Read record and table image paths that resolve outside the image root "
        "(absolute paths, '..', symlinks pointing out); without it such a sample is an "
        "error record.",
    ),
    option(
        "--max-image-pixels",
        default=defaults.MAX_IMAGE_PIXELS,
        type=click.IntRange(min=1),
        help="Refuse input images with more pixels (decompression bombs); was --max-pixels, "
        "which now sets the image processor's resize budget.",
    ),
    option(
        "--input-format",
        default=defaults.INPUT_FORMAT,
        type=literal_choice(InputFormat),
        help="How to read --input: auto recognises it by its content; hf loads a hub id (or "
        "a local folder) with datasets.load_dataset.",
    ),
    option(
        "--split",
        default=defaults.SPLIT,
        help="Hugging Face split of a hub id, hub-layout folder or save_to_disk folder "
        "(default: the only split there is; several are an error).",
    ),
    option(
        "--hf-config",
        default=defaults.HF_CONFIG,
        help="Hugging Face configuration (subset), e.g. InfographicVQA of lmms-lab/DocVQA "
        "(default: the only one there is).",
    ),
    column_option("question", defaults.QUESTION_FIELDS, "the question"),
    column_option("answers", defaults.ANSWERS_FIELDS, "the reference answers (list or string)"),
    column_option("image", defaults.IMAGE_FIELDS, "the image (Image feature, bytes or a path)"),
    column_option("boxes", defaults.BOXES_FIELDS, "pixel xyxy evidence boxes (optional)"),
    column_option("id", defaults.ID_FIELDS, "the sample id (optional: else file and row)"),
)
"""How the input is read: shard size, image root (and whether images may leave it), pixel
limit, format, split, configuration and the table column mapping, for commands that read
samples."""

ray_options = apply_all(
    option(
        "--address",
        help="Join an existing Ray cluster (e.g. auto); default: local Ray.",
    ),
    progress_option,
)
"""--address and --no-progress, for the commands that run a Ray job."""


def pick(values: Mapping[str, Any], *names: str) -> dict[str, Any]:
    """``{name: values[name]}`` for ``names``: options named as the job fields they fill."""
    return {name: values[name] for name in names}


COLUMN_FIELDS = ("question", "answers", "image", "boxes", "id")


def column_mapping(values: Mapping[str, Any]) -> ColumnMapping:
    """The :class:`ColumnMapping` that the ``--<field>-field`` options collected."""
    return ColumnMapping(**{field: tuple(values[f"{field}_field"]) for field in COLUMN_FIELDS})


def input_options(values: Mapping[str, Any]) -> InputOptions:
    """The :class:`InputOptions` that :data:`input_reading_options` collected."""
    planning = pick(values, "samples_per_shard", "image_root", "input_format", "split")
    return InputOptions(
        **planning,
        hf_config=values["hf_config"],
        columns=column_mapping(values),
        allow_external_images=bool(values.get("allow_external_images", False)),
    )


def placement(values: Mapping[str, Any]) -> dict[str, Any]:
    """The :class:`~vea_augment.distributed.pool.Placement` fields :data:`ray_options` and
    --num-actors collected, as keyword arguments of a job."""
    return pick(values, "num_actors", "gpus_per_actor", "address")


class JobSummary(Protocol):
    """What every distributed job reports at its end (``exit_code`` too, where it has one)."""

    shards_failed: list[str]

    def lines(self) -> list[str]: ...


def finish(summary: JobSummary, where: str) -> None:
    """Print a job's summary and where its output is, then exit with the summary's
    ``exit_code`` (128 + signal when interrupted, 1 when a shard or every sample failed);
    a summary without one exits 1 when any shard failed."""
    for line in summary.lines():
        click.echo(line)
    click.echo(where)
    code = getattr(summary, "exit_code", 1 if summary.shards_failed else 0)
    if code:
        sys.exit(code)


overwrite_option = option(
    "--overwrite",
    is_flag=True,
    help="The output holds another job's results (other input, model or options): remove "
    "them and start again. Without it such a rerun is refused, naming what changed.",
)
"""--overwrite, for the commands whose output records a job identity."""


def format_score(value: float | None) -> str:
    """A score to three decimals, or a dash where there is none."""
    return "  -  " if value is None else f"{value:.3f}"
