"""The answer step end to end: a real local Ray cluster answering augmented tar shards with a
tiny real VLM (transformers backend) and with a served model (a real HTTP chat-completions
server on loopback), one prediction per sample and method, resumable, failures recorded."""

from __future__ import annotations

import base64
import io
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds
from click.testing import CliRunner
from PIL import Image
from progress_bars import record_bars
from synthetic_images import encoded, noise_image
from tiny_jobs import tiny_augment_job

from vea_augment.answering.backend import AnswerRequest, EncodedImage
from vea_augment.answering.endpoint_backend import EndpointSettings
from vea_augment.answering.factory import BackendSpec
from vea_augment.answering.methods import METHODS, parse_methods
from vea_augment.cli import cli
from vea_augment.data.augmented import to_shard_sample
from vea_augment.data.predictions_file import read_predictions
from vea_augment.data.readers import RawSample
from vea_augment.errors import ConfigError
from vea_augment.jobs.answer import AnswerJob, run_answer_job
from vea_augment.jobs.augment import run_augment_job
from vea_augment.models.prompting import VEA_INSTRUCTION
from vea_augment.options import ModelOptions
from vea_augment.schemas.prediction import Prediction
from vea_augment.schemas.report import ScoreReport

ALL_METHODS = tuple(parse_methods("base,inst,vea,vea-no-prompt,vea-both"))
GOOD = {
    "plain-0": "What is written on the sign?",
    "plain-1": "Which colour is the box?",
    "flaky": "flaky: what is shown?",
    "fail500": "fail500: what is shown?",
    "garbled": "garbled: what is shown?",
    "slow": "slow: what is shown?",
}


@pytest.fixture(scope="module")
def augmented(tmp_path_factory, model_dir, local_ray) -> Path:
    """Two augmented shards (originals not kept: found through _manifest.json), with one
    sample whose image is corrupt, so augment wrote it as an error passthrough."""
    root = tmp_path_factory.mktemp("answer-input")
    keys = list(GOOD)
    for shard, chunk in enumerate((keys[:3], keys[3:])):
        with wds.TarWriter(str(root / f"in-{shard:05d}.tar")) as sink:
            for index, key in enumerate(chunk):
                record = {
                    "id": key,
                    "question": GOOD[key],
                    "answers": ["red", "Red box"],
                    "dataset": "docs" if shard == 0 else "scenes",
                    "evidence_boxes": [[4, 4, 24, 20]],
                }
                sink.write(
                    {
                        "__key__": key,
                        "json": record,
                        "png": encoded(noise_image(48 + 8 * index, 40, index)),
                    }
                )
            if shard == 1:
                broken = {"id": "broken", "question": "What is it?", "answers": ["x"]}
                sink.write({"__key__": "broken", "json": broken, "png": b"not a png"})
    output = root / "augmented"
    summary = run_augment_job(
        tiny_augment_job(str(root / "in-{00000..00001}.tar"), output, model_dir),
        show_progress=False,
    )
    assert summary.ok == 6 and summary.errors == 1
    return output


def by_pair(predictions: list[Prediction]) -> dict[tuple[str, str], Prediction]:
    pairs = Counter((p.id, p.method) for p in predictions)
    assert max(pairs.values()) == 1, f"duplicated predictions: {pairs.most_common(3)}"
    return {(p.id, p.method): p for p in predictions}


def transformers_job(augmented: Path, output: Path, model_dir: Path, **overrides) -> AnswerJob:
    spec = BackendSpec(
        "transformers", str(model_dir), ModelOptions(dtype="float32", device="cpu"), batch_size=4
    )
    return AnswerJob(
        **{"input": str(augmented), "output": output, "backend": spec, "methods": ALL_METHODS}
        | overrides
    )


def test_methods_pair_the_papers_prompts_with_the_papers_images():
    shown = {name: (spec.prompt_style, spec.images) for name, spec in METHODS.items()}
    assert shown == {
        "base": ("base", ("original",)),
        "inst": ("vea", ("original",)),
        "vea": ("vea", ("highlighted",)),
        "vea-no-prompt": ("base", ("highlighted",)),
        "vea-both": ("vea", ("original", "highlighted")),
        "oracle": ("vea", ("oracle",)),
    }
    assert [m.name for m in parse_methods("vea, base,vea")] == ["vea", "base"]
    with pytest.raises(ConfigError, match=r"unknown method.*nope.*choose from base"):
        parse_methods("base,nope")


def test_a_kept_original_and_a_failed_sample_offer_the_right_images():
    record = {"id": "k", "question": "Q?", "answers": ["a"], "evidence_boxes": [[0, 0, 2, 2]]}
    mask = io.BytesIO()
    Image.fromarray(np.pad(np.full((2, 2), 255, np.uint8), ((0, 2), (0, 2)))).save(mask, "PNG")
    ok = RawSample(
        key="k",
        record={**record, "vea": {"status": "ok"}},
        image=b"HL",
        image_ext="png",
        extras={"orig.png": b"OR", "mask.png": mask.getvalue()},
    )
    sample = to_shard_sample(ok, shard=3)
    assert sample.images["highlighted"].data == b"HL"
    assert sample.images["original"].data == b"OR"
    assert sample.attribution_auroc == 1.0 and sample.shard == 3
    failed = RawSample(
        key="k",
        record={**record, "vea": {"status": "error", "reason": "decode: bad"}},
        image=b"UNCHANGED",
        image_ext="png",
    )
    sample = to_shard_sample(failed, shard=0)
    assert sample.images == {"original": EncodedImage(b"UNCHANGED", "png", "k")}
    assert sample.why_unanswerable(("highlighted",)) == (
        "no highlighted image: augment failed: decode: bad"
    )
    plain = to_shard_sample(RawSample(key="p", record=record, image=b"P", image_ext="jpg"), 0)
    assert plain.images["original"].data == b"P" and "highlighted" in plain.missing


def test_transformers_backend_answers_every_sample_under_every_method(
    augmented, model_dir, tmp_path, monkeypatch
):
    output = tmp_path / "predictions.jsonl"
    bars = record_bars(monkeypatch)
    summary = run_answer_job(transformers_job(augmented, output, model_dir), show_progress=True)
    (bar,) = bars
    assert bar.unit == "prediction" and bar.n == summary.written and max(bar.seen) == bar.n
    assert bar.postfix["shards"] == "2/2"
    lines = read_predictions(output)
    assert lines.malformed == []
    predictions = by_pair(lines.predictions)
    ids = [*GOOD, "broken"]
    assert set(predictions) == {(i, m.name) for i in ids for m in ALL_METHODS}
    assert summary.written == len(predictions) == 35
    for key in GOOD:
        for method in ALL_METHODS:
            prediction = predictions[(key, method.name)]
            assert prediction.status == "ok", prediction.reason
            assert prediction.backend == "transformers" and prediction.model == str(model_dir)
            assert prediction.images == list(method.images)
            assert prediction.prompt.count("<|vision_start|>") == len(method.images)
            assert (VEA_INSTRUCTION in prediction.prompt) == (method.prompt_style == "vea")
            assert GOOD[key] in prediction.prompt
            assert prediction.references == ["red", "Red box"]
            assert prediction.attribution_auroc is not None
            assert 0.0 <= prediction.attribution_auroc <= 1.0
    assert predictions[("plain-0", "base")].dataset == "docs"
    assert predictions[("slow", "vea")].dataset == "scenes"
    # The corrupt image: augment could not highlight it, and its original does not decode.
    assert "no highlighted image: augment failed: decode" in predictions[("broken", "vea")].reason
    assert predictions[("broken", "base")].reason == "broken: not an image (no known image format)"
    assert summary.errors == 5

    # Batched greedy answers (left-padded batches of 4) equal answers one request at a time.
    backend = BackendSpec(
        "transformers", str(model_dir), ModelOptions(dtype="float32", device="cpu"), batch_size=1
    ).build()
    shards = sorted(augmented.glob("shard-*.tar"))
    with wds.WebDataset(str(shards[0]), shardshuffle=False) as dataset:
        first = next(iter(dataset))
    single = backend.answer(
        [
            AnswerRequest(
                METHODS["vea"].text(GOOD["plain-0"]), (EncodedImage(first["png"], "png", "a"),)
            )
        ]
    )
    assert first["__key__"] == "plain-0"
    assert single[0].answer == predictions[("plain-0", "vea")].prediction


def test_transformers_backend_answers_the_rest_when_one_question_is_not_valid_text(model_dir):
    backend = BackendSpec(
        "transformers", str(model_dir), ModelOptions(dtype="float32", device="cpu"), batch_size=4
    ).build()
    image = EncodedImage(encoded(noise_image(32, 32, 0)), "png", "a")
    outcomes = backend.answer(
        [AnswerRequest("What is \ud800 here?", (image,)), AnswerRequest("What is here?", (image,))]
    )
    assert outcomes[0].error == "question is not valid text (lone surrogate \\ud800 at character 8)"
    assert outcomes[0].prompt == "What is \\ud800 here?" and outcomes[0].answer is None
    assert outcomes[1].error is None and isinstance(outcomes[1].answer, str)
    assert "What is here?" in outcomes[1].prompt


def test_limit_answers_only_the_first_samples_under_every_method(augmented, model_dir, tmp_path):
    output = tmp_path / "first.jsonl"
    methods = tuple(parse_methods("base,vea"))
    job = transformers_job(augmented, output, model_dir, methods=methods, limit=4)
    summary = run_answer_job(job, show_progress=False)
    predictions = by_pair(read_predictions(output).predictions)
    first_four = list(GOOD)[:4]  # the shards hold GOOD's keys in order, the broken one last
    assert set(predictions) == {(i, m) for i in first_four for m in ("base", "vea")}
    assert summary.written == 8


def test_a_rerun_skips_written_predictions_and_repairs_a_truncated_file(
    augmented, model_dir, tmp_path
):
    output = tmp_path / "predictions.jsonl"
    methods = tuple(parse_methods("base,vea"))
    job = transformers_job(augmented, output, model_dir, methods=methods)
    first = run_answer_job(job, show_progress=False)
    assert first.written == 14
    again = run_answer_job(job, show_progress=False)
    assert (again.written, again.already_there) == (0, 14)

    lines = output.read_text().splitlines()
    output.write_text("\n".join(lines[:-3]) + "\n" + lines[-3][: len(lines[-3]) // 2])
    resumed = run_answer_job(job, show_progress=False)
    assert resumed.dropped_malformed == 1 and resumed.written == 3
    final = read_predictions(output)
    assert final.malformed == [] and len(by_pair(final.predictions)) == 14

    retried = run_answer_job(
        transformers_job(augmented, output, model_dir, methods=methods, retry_errors=True),
        show_progress=False,
    )
    assert retried.written == 2  # broken: base and vea, answered (and failed) again
    assert len(by_pair(read_predictions(output).predictions)) == 14


class ChatServer(ThreadingHTTPServer):
    """A chat-completions endpoint whose behaviour each question picks."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ChatHandler)
        self.calls: Counter[str] = Counter()
        self.seen: set[bytes] = set()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class ChatHandler(BaseHTTPRequestHandler):
    server: ChatServer

    def log_message(self, *args) -> None:
        pass

    def reply(self, status: int, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (the "slow" case): exactly what is tested

    def do_POST(self) -> None:
        assert self.path == "/v1/chat/completions"
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = json.loads(body)
        (turn,) = request["messages"]
        text = turn["content"][-1]["text"]
        sizes = []
        for part in turn["content"][:-1]:
            header, encoded = part["image_url"]["url"].split(",", 1)
            assert header == "data:image/png;base64"
            sizes.append("x".join(map(str, Image.open(io.BytesIO(base64.b64decode(encoded))).size)))
        kind = text.split("Question: ")[1].split(":")[0]
        with self.server.lock:
            self.server.calls[kind] += 1
            first_try = body not in self.server.seen
            self.server.seen.add(body)
        if kind == "fail500" or (kind == "flaky" and first_try):
            self.reply(500, b'{"error": "overloaded"}')
        elif kind == "garbled":
            self.reply(200, b'{"choices": [')
        elif kind == "slow":
            threading.Event().wait(1.5)
            self.reply(200, b"{}")
        else:
            answer = f"{request['model']} saw {len(sizes)} image(s) {' '.join(sizes)}"
            message = {"role": "assistant", "content": answer}
            self.reply(200, json.dumps({"choices": [{"message": message}]}).encode())


@pytest.fixture
def chat_server():
    server = ChatServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_endpoint_backend_answers_through_a_real_http_server_and_records_failures(
    augmented, chat_server, tmp_path
):
    settings = EndpointSettings(
        chat_server.url, "served-vlm", timeout_s=0.5, attempts=3, backoff_s=0.05, concurrency=4
    )
    methods = tuple(parse_methods("base,vea,vea-both"))
    output = tmp_path / "predictions.jsonl"
    job = AnswerJob(
        input=str(augmented),
        output=output,
        backend=BackendSpec("endpoint", "served-vlm", endpoint=settings),
        methods=methods,
        num_actors=2,
    )
    summary = run_answer_job(job, show_progress=False)
    predictions = by_pair(read_predictions(output).predictions)
    assert len(predictions) == 7 * 3 and summary.written == 21
    sizes = {"plain-0": "48x40", "plain-1": "56x40", "flaky": "64x40"}
    for key, size in sizes.items():
        assert predictions[(key, "base")].prediction == f"served-vlm saw 1 image(s) {size}"
        assert predictions[(key, "vea-both")].prediction == (
            f"served-vlm saw 2 image(s) {size} {size}"
        )
        assert predictions[(key, "vea")].backend == "endpoint"
        # The released order: the instruction, then the question.
        assert f"{VEA_INSTRUCTION} Question: " in predictions[(key, "vea")].prompt
    for method in methods:
        assert "HTTP 500" in predictions[("fail500", method.name)].reason
        assert "after 3 attempt(s)" in predictions[("fail500", method.name)].reason
        assert "malformed reply" in predictions[("garbled", method.name)].reason
        assert "deadline of 0.5 s exceeded" in predictions[("slow", method.name)].reason
    assert chat_server.calls["fail500"] == 3 * len(methods)
    assert chat_server.calls["flaky"] == 2 * len(methods)
    assert summary.errors == 3 * 3 + 3  # three failing kinds, and the corrupt image


def test_the_cli_answers_through_an_endpoint_then_scores_the_predictions(
    augmented, chat_server, tmp_path
):
    output = tmp_path / "run" / "predictions.jsonl"
    answered = CliRunner().invoke(
        cli,
        [
            "answer", "--model", "served-vlm", "--input", str(augmented), "--output",
            str(output), "--endpoint", chat_server.url, "--methods", "base,vea",
            "--timeout", "0.5", "--attempts", "2", "--no-progress",
        ],
    )  # fmt: skip
    assert answered.exit_code == 0, answered.output
    assert "predictions: 14 written (8 errors), 0 already there" in answered.output
    assert "2  endpoint failed after 2 attempt(s): HTTP 500" in answered.output
    assert "2  endpoint failed after 2 attempt(s): deadline of 0.5 s exceeded" in answered.output
    scored = CliRunner().invoke(cli, ["score", str(output), "--resamples", "100"])
    assert scored.exit_code == 0, scored.output
    report = ScoreReport.model_validate_json(
        output.with_name("predictions.report.json").read_text()
    )
    rows = {(row.dataset, row.method): row for row in report.rows}
    assert set(rows) == {(d, m) for d in ("docs", "scenes", "default") for m in ("base", "vea")}
    assert (rows[("scenes", "vea")].n, rows[("scenes", "vea")].errors) == (3, 3)
    assert rows[("docs", "base")].errors == 0  # flaky: its second attempt succeeds
    assert all(protocol.normalizer in scored.output for protocol in report.protocols)
    assert output.with_name("predictions.report.png").stat().st_size > 10_000
