"""Faults end a job with its summary and a truthful exit status, never a raw traceback: an
actor that keeps dying fails its shard with the actor's exit reason, a task's own exception
is reported as itself (not Ray's wrapper), SIGTERM stops the driver cleanly and a rerun
resumes, an unwritable output is one line, and a run where every sample failed exits 1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import ray
import webdataset as wds
from click.testing import CliRunner
from synthetic_images import encoded, noise_image
from tiny_jobs import tiny_augment_job

from vea_augment.cli import cli
from vea_augment.distributed.scheduler import ActorPool, failure_reason, run_shards
from vea_augment.jobs.augment import run_augment_job
from vea_augment.testing.processes import augment_actors, kill_hard

REPO = Path(__file__).resolve().parents[1]
# The Ray workers cannot import this test module: ship its classes by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
MAX_PIXELS = "1000000"


def write_shards(root: Path, shards: int, per_shard: int, image: bytes | None = None) -> str:
    root.mkdir(parents=True, exist_ok=True)
    for shard in range(shards):
        with wds.TarWriter(str(root / f"in-{shard:05d}.tar")) as sink:
            for i in range(per_shard):
                key = f"s{shard}-{i}"
                record = {"id": key, "question": "What?", "answers": ["x"]}
                png = image if image is not None else encoded(noise_image(40, 32, 10 * shard + i))
                sink.write({"__key__": key, "json": record, "png": png})
    return str(root / f"in-{{00000..{shards - 1:05d}}}.tar")


def augment_command(model_dir: Path, source: str, output: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "vea_augment.cli", "augment", "--model", str(model_dir),
        "--layers", "1,2", "--input", source, "--output", str(output), "--num-actors", "1",
        "--dtype", "float32", "--device", "cpu", "--max-image-pixels", MAX_PIXELS,
        "--no-progress", *extra,
    ]  # fmt: skip


def test_an_actor_killed_mid_shard_on_every_attempt_fails_the_shard_with_its_exit_reason(
    local_ray, model_dir, tmp_path
):
    source = write_shards(tmp_path / "in", 1, 8)
    output = tmp_path / "out"
    job = tiny_augment_job(source, output, model_dir, batch_size=1, num_actors=1, max_attempts=2)
    killed: set[int] = set()
    stop = threading.Event()

    def kill_each_actor_mid_shard() -> None:
        # local_ray's raylet is our child, so its actors are our descendants.
        while not stop.is_set():
            if any(".tmp-" in path.name for path in output.glob("*")):
                for actor in augment_actors(os.getpid()):
                    if actor.pid not in killed and kill_hard(actor):
                        killed.add(actor.pid)
            time.sleep(0.01)

    killer = threading.Thread(target=kill_each_actor_mid_shard)
    killer.start()
    try:
        summary = run_augment_job(job, False)
    finally:
        stop.set()
        killer.join()
    assert len(killed) == 2 and summary.actor_restarts == 2
    assert (summary.shards_done, summary.exit_code) == (0, 1)
    text = "\n".join(summary.lines())
    assert "0 written, 0 already done, 1 failed (of 1)" in text
    failed = next(line for line in summary.lines() if "failed shard:" in line)
    for attempt in (1, 2):
        assert (
            f"attempt {attempt}: actor died: The actor is dead because its worker process" in failed
        )
    assert not list(output.rglob("*.tmp-*")) and not (output / "_lock.json").exists()


def test_sigterm_stops_the_driver_cleanly_and_a_rerun_resumes(model_dir, tmp_path):
    source = write_shards(tmp_path / "in", 5, 2)
    output = tmp_path / "out"
    command = augment_command(model_dir, source, output)
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while time.time() < deadline and not (output / "shard-00000.tar").exists():
        assert driver.poll() is None, driver.communicate()[1][-2000:]
        time.sleep(0.02)
    driver.send_signal(signal.SIGTERM)
    stdout, stderr = driver.communicate(timeout=120)
    assert driver.returncode == 143, stderr[-2000:]
    assert "interrupted by SIGTERM" in stdout and "rerun the same command to resume" in stdout
    assert stdout.startswith("shards: ") and "Traceback" not in stderr
    assert not [p for p in output.rglob("*") if ".tmp" in p.name]
    assert not (output / "_lock.json").exists()
    done = len(list(output.glob("shard-*.tar")))
    assert 1 <= done < 5
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{5 - done} written, {done} already done, 0 failed (of 5)" in rerun.stdout


def test_a_read_only_output_or_an_unreadable_input_is_one_line_and_exit_1(model_dir, tmp_path):
    # Root writes through permission bits, so as root the command runs with euid nobody.
    base = Path(tempfile.mkdtemp(prefix="vea-ro-"))
    read_only = base / "ro"
    read_only.mkdir()
    base.chmod(0o755)
    read_only.chmod(0o555)
    source = write_shards(base / "in", 1, 1)
    hidden = base / "hidden"
    write_shards(hidden, 1, 1)
    hidden.chmod(0o000)
    arguments = augment_command(model_dir, source, read_only)[3:]
    unreadable = augment_command(model_dir, str(hidden), tmp_path / "out")[3:]
    as_root = os.geteuid() == 0
    try:
        if as_root:
            os.seteuid(65534)
        result = CliRunner().invoke(cli, arguments)
        refused = CliRunner().invoke(cli, unreadable)
    finally:
        if as_root:
            os.seteuid(0)
        hidden.chmod(0o755)
        shutil.rmtree(base)
    # One line says why (stderr also holds the lines augment prints before it starts).
    for outcome, reason in (
        (result, f"cannot write to {read_only}: Permission denied"),
        (refused, f"cannot read input {str(hidden)!r}: Permission denied"),
    ):
        assert outcome.exit_code == 1, repr(outcome.exception)
        errors = [line for line in outcome.output.splitlines() if line.startswith("Error:")]
        assert errors == [f"Error: {reason}"]
        assert "Traceback" not in outcome.output


def test_a_run_where_every_sample_failed_exits_1(local_ray, model_dir, tmp_path):
    source = write_shards(tmp_path / "in", 1, 3, image=b"not an image at all")
    output = tmp_path / "out"
    result = CliRunner().invoke(cli, augment_command(model_dir, source, output)[3:])
    assert result.exit_code == 1, result.output
    assert "samples: 3 (0 ok, 3 errors)" in result.output
    assert "every sample failed" in result.output
    stats = json.loads((output / "_stats" / "shard-00000.json").read_text())
    assert stats["errors"] == 3


@ray.remote
class Flaky:
    """Raises what it is told to, or returns its pid."""

    def run(self, task: Task) -> dict[str, int]:
        if task.error == "disk":
            raise OSError(28, "No space left on device")
        if task.error == "memory":
            raise ray.exceptions.OutOfMemoryError(
                "Task was killed due to the node running low on memory."
            )
        return {"pid": os.getpid()}


@dataclass(frozen=True)
class Task:
    error: str

    def describe(self) -> str:
        return f"task {self.error}"


def test_a_task_s_own_error_is_reported_as_itself_and_any_ray_error_is_a_failed_attempt(local_ray):
    pool = ActorPool(Flaky.remote, 1, "run")
    ended = []
    outcomes = run_shards(
        pool,
        [Task("disk"), Task("memory"), Task("none")],
        lambda _: None,
        ended.append,
        max_attempts=2,
    )
    pool.shutdown()
    by_task = {outcome.task.error: outcome for outcome in outcomes}
    assert by_task["disk"].errors == [
        "attempt 1: OSError: [Errno 28] No space left on device",
        "attempt 2: OSError: [Errno 28] No space left on device",
    ]
    assert by_task["memory"].errors == [
        f"attempt {n}: OutOfMemoryError: Task was killed due to the node running low on memory."
        for n in (1, 2)
    ]
    assert by_task["none"].stats is not None and len(ended) == 3
    assert pool.replaced == 2, "a Ray error other than the task's own replaces the actor"


def test_the_reason_of_a_dead_actor_is_its_exit_cause_not_ray_s_wrapper(local_ray):
    actor = Flaky.remote()
    pid = ray.get(actor.run.remote(Task("none")))["pid"]
    os.kill(pid, signal.SIGKILL)  # the actor we just started
    with pytest.raises(ray.exceptions.RayActorError) as died:
        ray.get(actor.run.remote(Task("none")), timeout=60)
    reason = failure_reason(died.value)
    assert reason.startswith("actor died: The actor is dead because its worker process has died.")
    assert "class_name" not in reason and "Some common causes" not in reason
