"""A predictions file is one job's: locked while answered, refused to another input or
backend (naming what changed) unless --overwrite, resumed by the same backend with any
methods, and its manifest never holds a secret."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from vea_augment.answering.endpoint_backend import EndpointSettings
from vea_augment.answering.factory import BackendSpec
from vea_augment.answering.methods import parse_methods
from vea_augment.data.job_lock import JobLock
from vea_augment.data.store import OutputStore
from vea_augment.errors import ConfigError
from vea_augment.jobs.answer import AnswerJob, answer_identity, run_answer_job
from vea_augment.jobs.file_output import claimed_file, manifest_path


def endpoint_job(tmp_path: Path, model: str = "served", **settings) -> AnswerJob:
    endpoint = EndpointSettings(url="http://127.0.0.1:9/v1", model=model, **settings)
    return AnswerJob(
        input=str(tmp_path / "augmented"),
        output=tmp_path / "predictions.jsonl",
        backend=BackendSpec("endpoint", model, endpoint=endpoint),
        methods=tuple(parse_methods("base,vea")),
    )


def answered_by(job: AnswerJob) -> Path:
    """A predictions file as ``job`` would leave it (one line, its manifest beside it)."""
    with claimed_file(Path(job.output), "answer", answer_identity(job), False) as output:
        output.write_text('{"id": "a"}\n')
    return output


def test_a_rerun_with_another_served_model_is_refused_naming_it(tmp_path):
    answered_by(endpoint_job(tmp_path))
    with pytest.raises(ConfigError) as refused:
        run_answer_job(endpoint_job(tmp_path, model="other"), show_progress=False)
    message = str(refused.value)
    assert "changed: backend.endpoint.model: served -> other; backend.model: served -> other" in (
        message
    )
    assert "--overwrite" in message
    assert (tmp_path / "predictions.jsonl").read_text() == '{"id": "a"}\n'


def test_more_methods_and_other_placement_are_the_same_job(tmp_path):
    job = endpoint_job(tmp_path)
    more = AnswerJob(
        input=job.input,
        output=job.output,
        backend=job.backend,
        methods=tuple(parse_methods("base,vea,oracle")),
        num_actors=3,
    )
    assert answer_identity(more) == answer_identity(job)


def test_a_file_without_a_manifest_is_refused_and_overwrite_removes_it(tmp_path):
    job = endpoint_job(tmp_path)
    (tmp_path / "predictions.jsonl").write_text('{"id": "old"}\n')
    with pytest.raises(ConfigError, match="written without a job identity"):
        run_answer_job(job, show_progress=False)
    with claimed_file(Path(job.output), "answer", answer_identity(job), True) as output:
        assert not output.exists(), "overwrite starts from an empty file"
    recorded = json.loads(manifest_path(output).read_text())
    assert recorded["command"] == "answer"
    assert recorded["identity"] == json.loads(json.dumps(answer_identity(job)))


def test_a_second_answer_into_a_file_being_answered_is_refused_naming_the_holder(tmp_path):
    job = endpoint_job(tmp_path)
    lock = JobLock(OutputStore(tmp_path), "answer", name="predictions.jsonl.lock")
    with lock, pytest.raises(ConfigError) as refused:
        run_answer_job(job, show_progress=False)
    assert f"(pid {os.getpid()} on {socket.gethostname()}" in str(refused.value)
    assert not (tmp_path / "predictions.jsonl.lock").exists()


def test_the_identity_keeps_header_names_and_never_their_values(tmp_path):
    job = endpoint_job(tmp_path, headers=(("Authorization", "Bearer s3cret"), ("X-Team", "vision")))
    identity = answer_identity(job)
    assert identity["backend"]["endpoint"]["header_names"] == ["authorization", "x-team"]
    text = json.dumps(identity)
    assert "s3cret" not in text and "vision" not in text
    answered_by(job)
    assert "s3cret" not in manifest_path(tmp_path / "predictions.jsonl").read_text()
