"""``vea-augment answer``: any VLM answers the augmented shards under each method."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from vea_augment import options as defaults
from vea_augment.cli import common


def _headers(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    """``Name: value`` strings as (name, value) pairs; a string without a name is refused."""
    pairs = []
    for text in values:
        name, colon, value = text.partition(":")
        if not colon or not name.strip() or any(c.isspace() for c in name.strip()):
            raise click.BadParameter(f"expected 'Name: value', got {text!r}", ctx, param)
        pairs.append((name.strip(), value.strip()))
    return tuple(pairs)


def _json_object(ctx: click.Context, param: click.Parameter, value: str | None) -> dict[str, Any]:
    """The ``--extra-body`` JSON text as a dict; anything but a JSON object is refused."""
    if value is None:
        return {}
    try:
        fields = json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON ({exc})", ctx, param) from exc
    if not isinstance(fields, dict):
        raise click.BadParameter(f"expected a JSON object, got {value!r}", ctx, param)
    if "messages" in fields:
        raise click.BadParameter("cannot replace 'messages' (the question and images)", ctx, param)
    return fields


endpoint_options = common.apply_all(
    common.option(
        "--endpoint",
        help="Base URL of an OpenAI-compatible server (e.g. http://host:8000/v1); default: "
        "load the model locally with transformers.",
    ),
    common.option(
        "--api-key-env",
        default=defaults.API_KEY_ENV,
        help="Environment variable holding the endpoint's API key (sent if set).",
    ),
    common.option(
        "--timeout",
        default=defaults.ENDPOINT_TIMEOUT_S,
        type=click.FloatRange(min=0, min_open=True),
        help="Wall-clock seconds per endpoint try: connecting, sending and the whole reply.",
    ),
    common.option(
        "--header",
        "headers",
        multiple=True,
        callback=_headers,
        help="'Name: value' sent with every endpoint request (repeatable; only ever to the "
        "endpoint's own origin).",
    ),
    common.option(
        "--extra-body",
        callback=_json_object,
        help="A JSON object merged into every chat-completions request, e.g. "
        '\'{"top_p": 1, "seed": 0}\'.',
    ),
    common.count_option(
        "--max-reply-bytes",
        defaults.ENDPOINT_MAX_REPLY_BYTES,
        "Largest endpoint reply read; a larger one is that prediction's error.",
    ),
    common.count_option(
        "--attempts",
        defaults.ENDPOINT_ATTEMPTS,
        "Endpoint tries per request (after passed deadlines, dropped connections, HTTP "
        "408/429/5xx, malformed replies), waiting as the server's Retry-After asks (capped) or "
        "with exponential backoff.",
    ),
    common.count_option(
        "--concurrency",
        defaults.ENDPOINT_CONCURRENCY,
        "Endpoint requests in flight per actor.",
    ),
)
"""Where the served model is and how patiently to ask it (only with --endpoint)."""


def endpoint_settings(values: dict[str, Any]) -> Any:
    """The endpoint's settings from :data:`endpoint_options`, or None without --endpoint."""
    from vea_augment.answering.endpoint_backend import EndpointSettings

    if not values["endpoint"]:
        return None
    return EndpointSettings(
        url=values["endpoint"],
        model=values["model"],
        api_key_env=values["api_key_env"],
        timeout_s=values["timeout"],
        attempts=values["attempts"],
        concurrency=values["concurrency"],
        headers=values["headers"],
        extra_body=values["extra_body"],
        max_reply_bytes=values["max_reply_bytes"],
    )


@click.command("answer")
@common.model_option(
    "Hub id or local directory of any image-text VLM (no adapter needed), or the model "
    "name to request from --endpoint."
)
@common.input_option(
    "The shards written by `vea-augment augment` (folder, paths or brace pattern)."
)
@common.output_option(
    "Predictions file; a rerun appends only what is missing.",
    folder=False,
    default=defaults.PREDICTIONS_OUTPUT,
)
@common.option(
    "--methods",
    default=defaults.METHODS,
    help="Comma-separated: base (QA prompt, original), inst (VEA prompt, original), vea "
    "(VEA prompt, highlighted), vea-no-prompt (QA prompt, highlighted), vea-both (VEA prompt, "
    "original and highlighted), oracle (VEA prompt, the original dimmed outside its "
    "ground-truth evidence boxes: the upper bound; needs evidence_boxes, else an error).",
)
@endpoint_options
@common.count_option(
    "--batch-size",
    defaults.ANSWER_BATCH_SIZE,
    "Prompts per generate() call (transformers backend).",
)
@common.option(
    "--retry-errors",
    is_flag=True,
    help="Answer again the predictions that failed last time.",
)
@common.count_option(
    "--limit",
    None,
    "Answer only the first N samples of the shards, under every method (a quick look; a "
    "later run without it appends the rest).",
)
@common.overwrite_option
@common.num_actors_option("Answering actors")
@common.model_loading_options
@common.ray_options
def answer_command(**options: Any) -> None:
    """Answer the questions of augmented shards with any VLM, under each method.

    Greedy decoding, at most 50 new tokens; one prediction line per sample and method, with
    the prompt, the images sent, timing and (where the sample has evidence boxes) the pixel
    AUROC of its mask. A sample that cannot be answered is recorded as an error with the
    reason; the run goes on. A rerun into the same PREDICTIONS resumes it (more --methods
    may be added); one with another input or backend is refused unless --overwrite, and a
    second run into it while one runs is refused. Exits 1 when a shard failed or every
    prediction failed (a wrong key, model name or URL). Then run `vea-augment score
    PREDICTIONS`.
    """
    from vea_augment.answering.factory import BackendSpec
    from vea_augment.answering.methods import parse_methods
    from vea_augment.jobs.answer import AnswerJob, run_answer_job

    endpoint = endpoint_settings(options)
    backend = BackendSpec(
        kind="endpoint" if endpoint else "transformers",
        model=options["model"],
        loading=common.model_options(options),
        batch_size=options["batch_size"],
        endpoint=endpoint,
    )
    job = AnswerJob(
        input=options["input_"],
        output=options["output"],
        backend=backend,
        methods=tuple(parse_methods(options["methods"])),
        **common.placement(options),
        retry_errors=options["retry_errors"],
        limit=options["limit"],
        overwrite=options["overwrite"],
    )
    summary = run_answer_job(job, show_progress=not options["no_progress"])
    common.finish(summary, f"predictions: {job.output}")
    if not summary.ok:  # finish() exits for failed shards; every prediction failing too
        sys.exit(1)
