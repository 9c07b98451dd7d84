"""An output folder belongs to one job: its identity (input, model, the options that shape the
shards) is in the manifest, a rerun of another job into it is refused naming what changed,
``--overwrite`` starts again, and a lock keeps two live jobs out of one folder.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import webdataset as wds
from synthetic_images import encoded, noise_image
from tiny_jobs import tiny_augment_job

from vea_augment.data.job_lock import LOCK_NAME, JobLock, LockHolder
from vea_augment.data.store import OutputStore
from vea_augment.errors import ConfigError
from vea_augment.jobs.augment import augment_identity, run_augment_job
from vea_augment.jobs.identity import changes, fingerprint
from vea_augment.jobs.profile import ProfileJob, run_profile_job
from vea_augment.options import MaskConfig, ModelOptions


def write_input(path: Path, seed: int) -> str:
    with wds.TarWriter(str(path)) as sink:
        for i in range(2):
            record = {"id": f"k{i}", "question": "What?", "answers": ["x"]}
            record["evidence_boxes"] = [[2, 2, 12, 12]]
            sink.write(
                {"__key__": f"k{i}", "json": record, "png": encoded(noise_image(32, 24, seed + i))}
            )
    return str(path)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[str, str]:
    root = tmp_path_factory.mktemp("inputs")
    return write_input(root / "a.tar", 1), write_input(root / "b.tar", 7)


@pytest.fixture(scope="module")
def finished(local_ray, model_dir, inputs, tmp_path_factory) -> Path:
    """An output folder that a job with the paper's defaults finished."""
    output = tmp_path_factory.mktemp("finished") / "out"
    summary = run_augment_job(tiny_augment_job(inputs[0], output, model_dir), False)
    assert summary.shards_done == 1 and summary.exit_code == 0
    return output


def copy_of(finished: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(finished, tmp_path / "copy"))


def with_alpha(job, alpha: float):
    return replace(job, settings=replace(job.settings, mask=MaskConfig(alpha=alpha)))


def test_the_manifest_records_the_identity_and_its_fingerprint(finished, inputs, model_dir):
    manifest = json.loads((finished / "_manifest.json").read_text())
    identity = augment_identity(tiny_augment_job(inputs[0], finished, model_dir))
    assert manifest["identity"] == json.loads(json.dumps(identity))
    assert manifest["fingerprint"] == fingerprint(identity) and len(manifest["fingerprint"]) == 64
    assert identity["settings"]["mask"]["alpha"] == 0.5 and "batch_size" not in identity["settings"]
    assert not (finished / LOCK_NAME).exists(), "the lock is released when the job ends"


def test_where_and_how_fast_a_job_runs_is_not_part_of_its_identity(inputs, model_dir, tmp_path):
    job = tiny_augment_job(inputs[0], tmp_path, model_dir)
    faster = replace(job, num_actors=4, address="auto", limit=1, gpus_per_actor=2)
    faster = replace(faster, settings=replace(faster.settings, batch_size=16))
    faster = replace(faster, loading=replace(faster.loading, device="cuda"))
    assert fingerprint(augment_identity(faster)) == fingerprint(augment_identity(job))


def test_a_rerun_with_another_alpha_is_refused_naming_alpha(finished, inputs, model_dir):
    before = sorted(p.name for p in finished.rglob("*"))
    job = with_alpha(tiny_augment_job(inputs[0], finished, model_dir), 0.7)
    with pytest.raises(ConfigError) as refused:
        run_augment_job(job, False)
    message = str(refused.value)
    assert "changed: settings.mask.alpha: 0.5 -> 0.7)" in message
    assert "--overwrite" in message and str(finished) in message
    assert sorted(p.name for p in finished.rglob("*")) == before, "nothing was touched"


def test_a_rerun_with_another_input_is_refused_naming_both_inputs(finished, inputs, model_dir):
    with pytest.raises(ConfigError, match="changed: input: ") as refused:
        run_augment_job(tiny_augment_job(inputs[1], finished, model_dir), False)
    assert f"input: {inputs[0]} -> {inputs[1]})" in str(refused.value)


def test_the_changes_name_every_differing_leaf_in_path_order():
    old = {
        "input": "a",
        "settings": {"mask": {"alpha": 0.5, "sigma": 0.5}},
        "model": {"layers": [1]},
    }
    new = {
        "input": "b",
        "settings": {"mask": {"alpha": 0.7, "sigma": 0.5}},
        "model": {"layers": [1, 2]},
    }
    assert changes(old, new) == [
        "input: a -> b",
        "model.layers: [1] -> [1, 2]",
        "settings.mask.alpha: 0.5 -> 0.7",
    ]


def test_the_same_job_resumes_and_leaves_finished_shards_alone(
    finished, inputs, model_dir, tmp_path
):
    output = copy_of(finished, tmp_path)
    written = (output / "shard-00000.tar").stat().st_mtime_ns
    summary = run_augment_job(tiny_augment_job(inputs[0], output, model_dir), False)
    assert (summary.shards_skipped, summary.shards_done, summary.exit_code) == (1, 0, 0)
    assert (output / "shard-00000.tar").stat().st_mtime_ns == written


def test_overwrite_removes_the_old_job_and_starts_again(finished, inputs, model_dir, tmp_path):
    output = copy_of(finished, tmp_path)
    (output / "notes.txt").write_text("mine")
    job = replace(with_alpha(tiny_augment_job(inputs[1], output, model_dir), 0.7), overwrite=True)
    summary = run_augment_job(job, False)
    assert (summary.shards_skipped, summary.shards_done, summary.ok) == (0, 1, 2)
    manifest = json.loads((output / "_manifest.json").read_text())
    assert manifest["identity"]["settings"]["mask"]["alpha"] == 0.7
    assert manifest["identity"]["input"] == inputs[1]
    assert (output / "notes.txt").read_text() == "mine", "only the job's own files are removed"


def test_a_folder_written_before_identities_is_refused_unless_overwrite(
    finished, inputs, model_dir, tmp_path
):
    output = copy_of(finished, tmp_path)
    manifest = json.loads((output / "_manifest.json").read_text())
    del manifest["identity"], manifest["fingerprint"]
    (output / "_manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="written without a job identity"):
        run_augment_job(tiny_augment_job(inputs[0], output, model_dir), False)
    (output / "_manifest.json").unlink()
    with pytest.raises(ConfigError, match=r"shards without a _manifest\.json"):
        run_augment_job(tiny_augment_job(inputs[0], output, model_dir), False)


def test_a_second_job_into_a_locked_folder_is_refused_naming_the_holder(
    finished, inputs, model_dir, tmp_path
):
    output = copy_of(finished, tmp_path)
    with JobLock(OutputStore(output), "augment"):
        with pytest.raises(ConfigError) as refused:
            run_augment_job(tiny_augment_job(inputs[0], output, model_dir), False)
        assert (output / LOCK_NAME).exists(), "the refused job leaves the holder's lock alone"
    message = str(refused.value)
    assert (
        f"is held by a running augment job (pid {os.getpid()} on {socket.gethostname()}" in message
    )
    assert not (output / LOCK_NAME).exists()


def lock_file(output: Path, host: str, pid: int, heartbeat_age: float) -> None:
    holder = LockHolder(
        host, pid, "augment", "2024-01-01T00:00:00+00:00", time.time() - heartbeat_age, "t"
    )
    (output / LOCK_NAME).write_bytes(holder.to_bytes())


def test_a_lock_left_by_a_dead_process_is_taken_over_with_a_warning(
    finished, inputs, model_dir, tmp_path, caplog
):
    output = copy_of(finished, tmp_path)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(gone.stdout)
    lock_file(output, socket.gethostname(), pid, heartbeat_age=0)
    with caplog.at_level(logging.WARNING, logger="vea_augment.data.job_lock"):
        summary = run_augment_job(tiny_augment_job(inputs[0], output, model_dir), False)
    assert summary.shards_skipped == 1 and summary.exit_code == 0
    assert f"took over the stale lock of augment job (pid {pid}" in caplog.text
    assert f"its process {pid} on {socket.gethostname()} is gone" in caplog.text
    assert not (output / LOCK_NAME).exists()


def test_a_lock_with_an_old_heartbeat_is_stale_and_a_fresh_one_is_not(tmp_path, caplog):
    store = OutputStore(tmp_path)
    lock_file(tmp_path, "another-host", 1, heartbeat_age=10.0)
    with pytest.raises(ConfigError, match=r"held by a running augment job \(pid 1 on another-host"):
        JobLock(store, "augment", heartbeat_s=1.0, stale_after_s=30.0).acquire()
    lock_file(tmp_path, "another-host", 1, heartbeat_age=31.0)
    taker = JobLock(store, "augment", heartbeat_s=1.0, stale_after_s=30.0)
    taker.acquire()
    assert (
        taker.took_over is not None
        and "its heartbeat is 31s old (stale after 30s)" in taker.took_over
    )
    assert json.loads((tmp_path / LOCK_NAME).read_text())["token"] == taker.holder.token
    taker.release()
    assert not (tmp_path / LOCK_NAME).exists()


def test_the_heartbeat_is_refreshed_while_the_lock_is_held(tmp_path):
    with JobLock(OutputStore(tmp_path), "augment", heartbeat_s=0.1) as held:
        first = json.loads((tmp_path / LOCK_NAME).read_text())["heartbeat"]
        time.sleep(0.5)
        later = json.loads((tmp_path / LOCK_NAME).read_text())["heartbeat"]
        assert later > first and held.holder.heartbeat == later
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_profile_rerun_with_another_top_frac_is_refused_until_overwrite(
    local_ray, model_dir, inputs, tmp_path
):
    output = tmp_path / "profile.json"
    loading = ModelOptions(dtype="float32", device="cpu")
    job = ProfileJob(model=str(model_dir), loading=loading, input=inputs[0], output=output)
    run_profile_job(job, False)
    first = output.read_text()
    with pytest.raises(ConfigError, match=r"changed: settings.top_frac: 0.1 -> 0.5\)"):
        run_profile_job(replace(job, top_frac=0.5), False)
    assert output.read_text() == first
    run_profile_job(replace(job, top_frac=0.5, overwrite=True), False)
    recorded = json.loads((tmp_path / "profile.manifest.json").read_text())
    assert recorded["identity"]["settings"]["top_frac"] == 0.5
    assert not (tmp_path / "profile.json.lock").exists()


def test_an_unwritable_output_is_a_config_error_naming_the_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match=f"^cannot write to {blocker}/out: Not a directory$"):
        OutputStore(blocker / "out").make_root()
