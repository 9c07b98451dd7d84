"""``vea-augment answer --endpoint`` end to end on a real local Ray cluster and real loopback
servers: a request that fails (closed mid-reply, a question that is not valid text) costs
only its prediction, custom headers and body fields reach the server, and a job whose every
prediction failed (HTTP 401) exits non-zero with the cause counted once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import webdataset as wds
from click.testing import CliRunner
from endpoint_servers import Handler, Seen, answer_ok, serving
from synthetic_images import encoded, noise_image

from vea_augment.cli import cli
from vea_augment.data.predictions_file import read_predictions

QUESTIONS = {
    "a": "What is written on the sign?",
    "cut": "cut: what colour is the box?",
    "bad-text": "What does \ud800 mean?",
    "b": "How many boxes?",
    "c": "Which shop is it?",
}


@pytest.fixture(scope="module")
def shards(tmp_path_factory, local_ray) -> Path:
    """Two plain tar shards (answerable under ``base``): the first with the sample the server
    cuts off and the one whose question holds a lone surrogate."""
    root = tmp_path_factory.mktemp("endpoint-input")
    keys = list(QUESTIONS)
    for number, chunk in enumerate((keys[:3], keys[3:])):
        with wds.TarWriter(str(root / f"shard-{number:05d}.tar")) as sink:
            for index, key in enumerate(chunk):
                record = {"id": key, "question": QUESTIONS[key], "answers": ["red"]}
                sink.write(
                    {"__key__": key, "json": record, "png": encoded(noise_image(20, 16, index))}
                )
    return root


@pytest.fixture
def serve():
    with serving() as start:
        yield start


def answer(shards: Path, output: Path, url: str, *extra: str):
    arguments = [
        "answer", "--model", "served-vlm", "--input", str(shards), "--output", str(output),
        "--endpoint", url, "--methods", "base", "--attempts", "2", "--timeout", "5",
        "--num-actors", "1", "--no-progress", *extra,
    ]  # fmt: skip
    return CliRunner().invoke(cli, arguments)


def test_a_failed_request_costs_only_its_prediction_and_headers_and_body_arrive(
    shards, serve, tmp_path
):
    def cut_one(handler: Handler, seen: Seen) -> None:
        if "Question: cut:" not in seen.question:
            return answer_ok(handler, seen)
        handler.send_response(200)
        handler.send_header("Content-Length", "400")
        handler.end_headers()
        handler.wfile.write(b'{"choices": [')
        handler.wfile.flush()
        handler.close_connection = True

    endpoint = serve(cut_one)
    output = tmp_path / "predictions.jsonl"
    result = answer(
        shards, output, endpoint.url,
        "--header", "X-Tenant: lab-7", "--header", "X-Trace:abc",
        "--extra-body", '{"top_p": 0.5, "seed": 7}',
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "predictions: 5 written (2 errors), 0 already there" in result.output
    assert "failed shard" not in result.output
    predictions = {p.id: p for p in read_predictions(output).predictions}
    assert {key: p.status for key, p in predictions.items()} == {
        "a": "ok", "cut": "error", "bad-text": "error", "b": "ok", "c": "ok",
    }  # fmt: skip
    assert predictions["a"].prediction == "ok: sign?"
    assert predictions["cut"].reason.startswith(
        "endpoint failed after 2 attempt(s): connection closed mid-reply ("
    )
    # The reader refuses the record before any backend sees it (the backends' own guard
    # for text that cannot be encoded is pinned in test_endpoint_client and test_answer).
    assert predictions["bad-text"].reason == (
        "unreadable sample: .json record: field 'question' holds a lone surrogate U+D800"
    )
    assert len(endpoint.seen) == 5  # four questions, the cut one twice; bad-text never sent
    for seen in endpoint.seen:
        assert (seen.headers["x-tenant"], seen.headers["x-trace"]) == ("lab-7", "abc")
        assert (seen.json["top_p"], seen.json["seed"]) == (0.5, 7)


def test_every_prediction_failing_exits_non_zero_with_the_cause_counted_once(
    shards, serve, tmp_path
):
    def unauthorised(handler: Handler, seen: Seen) -> None:
        handler.send(401, json.dumps({"error": {"message": "Incorrect API key"}}).encode())

    endpoint = serve(unauthorised)
    result = answer(shards, tmp_path / "predictions.jsonl", endpoint.url)
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert "       4  endpoint failed after 1 attempt(s): HTTP 401" in lines
    assert (
        '          e.g. endpoint failed after 1 attempt(s): HTTP 401: {"error": {"message": '
        '"Incorrect API key"}}' in lines
    )
    assert "every prediction failed (5 of 5)" in lines
    assert sum("HTTP 401" in line for line in lines) == 2  # the kind and its one example
    assert len(endpoint.seen) == 4  # not retried


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--header", "no colon here"], "expected 'Name: value', got 'no colon here'"),
        (["--extra-body", "[1, 2]"], "expected a JSON object, got '[1, 2]'"),
        (["--extra-body", "{nope"], "not JSON"),
        (["--extra-body", '{"messages": []}'], "cannot replace 'messages'"),
    ],
)
def test_malformed_headers_and_extra_bodies_are_refused_before_anything_runs(
    tmp_path, arguments, message
):
    result = answer(tmp_path, tmp_path / "p.jsonl", "http://127.0.0.1:9/v1", *arguments)
    assert result.exit_code == 2 and message in result.output, result.output
