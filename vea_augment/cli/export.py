"""``vea-augment export``: augmented shards as LLaVA JSON, ShareGPT JSONL or parquet."""

from __future__ import annotations

from typing import Any

import click

from vea_augment import options as defaults
from vea_augment.cli import common


@click.command("export")
@common.input_option(
    "The shards written by `vea-augment augment` (folder, paths or brace pattern)."
)
@common.output_option(
    "Folder to write the export into (created; files of the same names are replaced).",
    folder=True,
)
@common.option(
    "--format",
    "export_format",
    default=defaults.EXPORT_FORMAT,
    type=common.literal_choice(defaults.ExportFormat),
    help="llava: llava.json + images/ (the folder is LLaVA's --image_folder); sharegpt: "
    "sharegpt.jsonl with from/value turns + images/; sharegpt-messages: "
    "sharegpt-messages.jsonl with role/content messages + images/ (both ShareGPT shapes "
    "also get their LLaMA-Factory dataset_info.json entry); parquet: data.parquet with the "
    "images inside as Image features.",
)
@common.option(
    "--image",
    default=defaults.EXPORT_IMAGE,
    type=common.literal_choice(defaults.ExportImages),
    help="The image(s) of each sample: the highlighted one, the original, or both (original "
    "first, then highlighted).",
)
@common.option(
    "--prompt",
    default=defaults.EXPORT_PROMPT,
    type=common.literal_choice(defaults.ExportPrompt),
    help="The human turn: the plain question, or the VEA prompt (the QA prompt around the "
    "question plus the instruction to use the highlighted region).",
)
@common.option(
    "--reference",
    default=defaults.EXPORT_REFERENCE,
    type=common.literal_choice(defaults.ReferenceRule),
    help="The answer trained on: the first reference, or the most frequent one (case and "
    "spacing ignored, ties to the first seen), e.g. of TextVQA's ten.",
)
@common.option(
    "--skip-errors",
    is_flag=True,
    help="Exit 0 although samples were left out (augment failed, no reference, a missing "
    "image). Without it the export is still written, every left-out sample is listed, and "
    "the command exits 1.",
)
@common.no_processor_pixels
@common.progress_option
def export_command(**options: Any) -> None:
    """Export augmented shards for fine-tuning: LLaVA JSON, ShareGPT JSONL, parquet.

    One row per sample whose augment succeeded: a human turn with one <image> per image and
    the question or the VEA prompt, a gpt turn with the chosen reference answer. Images are
    written as images/<key>.<ext> (highlighted) and images/<key>.orig.<ext> (original),
    paths relative to the data file; the original comes from orig.<ext> (augment
    --keep-original) or the augment input named in _manifest.json. Every sample left out is
    listed with its key and reason, here and in _export.json.
    """
    from vea_augment.jobs.export import ExportJob, run_export_job

    job = ExportJob(
        input=options["input_"],
        output=options["output"],
        format=options["export_format"],
        image=options["image"],
        prompt=options["prompt"],
        reference=options["reference"],
    )
    summary = run_export_job(job, show_progress=not options["no_progress"])
    for line in summary.lines():
        click.echo(line)
    if summary.left_out and not options["skip_errors"]:
        raise click.ClickException(
            f"{len(summary.left_out)} sample(s) left out of the export (listed above); pass "
            "--skip-errors to accept an export without them"
        )
