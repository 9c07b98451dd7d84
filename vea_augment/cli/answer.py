"""``vea-augment answer``: any VLM answers the augmented shards under each method."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from vea_augment import options as defaults
from vea_augment.cli.common import (
    batch_size_option,
    input_option,
    model_loading_options,
    model_option,
    model_options,
    num_actors_option,
    ray_options,
)


@click.command("answer")
@model_option(
    "Hub id or local directory of any image-text VLM (no adapter needed), or the model "
    "name to request from --endpoint."
)
@input_option("The shards written by `vea-augment augment` (folder, paths or brace pattern).")
@click.option(
    "--output",
    "-o",
    default="predictions.jsonl",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Predictions file; a rerun appends only what is missing.",
)
@click.option(
    "--methods",
    default=defaults.METHODS,
    show_default=True,
    help="Comma-separated: base (QA prompt, original), inst (VEA prompt, original), vea "
    "(VEA prompt, highlighted), vea-no-prompt (QA prompt, highlighted), vea-both (VEA prompt, "
    "original and highlighted).",
)
@click.option(
    "--endpoint",
    help="Base URL of an OpenAI-compatible server (e.g. http://host:8000/v1); default: load "
    "the model locally with transformers.",
)
@click.option(
    "--api-key-env",
    default=defaults.API_KEY_ENV,
    show_default=True,
    help="Environment variable holding the endpoint's API key (sent if set).",
)
@click.option(
    "--timeout",
    default=defaults.ENDPOINT_TIMEOUT_S,
    show_default=True,
    help="Seconds per endpoint request.",
)
@click.option(
    "--attempts",
    default=defaults.ENDPOINT_ATTEMPTS,
    show_default=True,
    type=click.IntRange(min=1),
    help="Endpoint tries per request (exponential backoff between them).",
)
@click.option(
    "--concurrency",
    default=defaults.ENDPOINT_CONCURRENCY,
    show_default=True,
    type=click.IntRange(min=1),
    help="Endpoint requests in flight per actor.",
)
@batch_size_option(
    defaults.ANSWER_BATCH_SIZE, "Prompts per generate() call (transformers backend)."
)
@click.option(
    "--retry-errors", is_flag=True, help="Answer again the predictions that failed last time."
)
@num_actors_option("Answering actors")
@model_loading_options
@ray_options
def answer_command(**options: Any) -> None:
    """Answer the questions of augmented shards with any VLM, under each method.

    Greedy decoding, at most 50 new tokens; one prediction line per sample and method, with
    the prompt, the images sent, timing and (where the sample has evidence boxes) the pixel
    AUROC of its mask. A sample that cannot be answered is recorded as an error with the
    reason; the run goes on. Then run `vea-augment score PREDICTIONS`.
    """
    from vea_augment.answering.endpoint_backend import EndpointSettings
    from vea_augment.answering.factory import BackendSpec
    from vea_augment.answering.methods import parse_methods
    from vea_augment.jobs.answer import AnswerJob, run_answer_job

    endpoint = None
    if options["endpoint"]:
        endpoint = EndpointSettings(
            url=options["endpoint"],
            model=options["model"],
            api_key_env=options["api_key_env"],
            timeout_s=options["timeout"],
            attempts=options["attempts"],
            concurrency=options["concurrency"],
        )
    backend = BackendSpec(
        kind="endpoint" if endpoint else "transformers",
        model=options["model"],
        loading=model_options(options),
        batch_size=options["batch_size"],
        endpoint=endpoint,
    )
    job = AnswerJob(
        input=options["input_"],
        output=options["output"],
        backend=backend,
        methods=tuple(parse_methods(options["methods"])),
        num_actors=options["num_actors"],
        address=options["address"],
        retry_errors=options["retry_errors"],
    )
    summary = run_answer_job(job, show_progress=not options["no_progress"])
    for line in summary.lines():
        click.echo(line)
    click.echo(f"predictions: {job.output}")
    if summary.shards_failed:
        sys.exit(1)
