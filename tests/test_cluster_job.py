"""`ray job submit` onto a real two-node Ray cluster on loopback: both nodes do shards."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import psutil
import pytest
import webdataset as wds
from PIL import Image

from vea_augment.testing.tiny import build_tiny_checkpoint

RAY = str(Path(sys.executable).with_name("ray"))
GCS_PORT, DASHBOARD_PORT = 6391, 8297


def ray_command(*args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    return subprocess.run(
        [RAY, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def stop_cluster(temp_dir: str) -> None:
    """End this cluster's processes only (``ray stop`` would end every Ray on the machine):
    those naming its temporary folder or its GCS port, and their children."""
    marks = (temp_dir, f":{GCS_PORT}")
    found: set[psutil.Process] = set()
    for process in psutil.process_iter(["cmdline"]):
        if any(mark in arg for arg in process.info["cmdline"] or () for mark in marks):
            found.add(process)
            with contextlib.suppress(psutil.Error):
                found.update(process.children(recursive=True))
    for process in found:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(list(found), timeout=15)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()


@pytest.fixture
def two_node_cluster(tmp_path):
    # A short folder of its own: Ray's socket paths must stay under 108 bytes.
    temp_dir = tempfile.mkdtemp(prefix="vea-ray-", dir="/tmp")
    head = ray_command(
        "start", "--head", "--node-ip-address=127.0.0.1", f"--port={GCS_PORT}",
        "--dashboard-host=127.0.0.1", f"--dashboard-port={DASHBOARD_PORT}",
        "--include-dashboard=true", "--num-cpus=1", f"--temp-dir={temp_dir}",
    )  # fmt: skip
    try:
        assert head.returncode == 0, head.stderr[-2000:]
        worker = ray_command(
            "start", f"--address=127.0.0.1:{GCS_PORT}", "--node-ip-address=127.0.0.1",
            "--num-cpus=1",
        )  # fmt: skip
        assert worker.returncode == 0, worker.stderr[-2000:]
        yield f"http://127.0.0.1:{DASHBOARD_PORT}"
    finally:
        stop_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_ray_job_submit_runs_the_job_on_both_nodes(two_node_cluster, tmp_path):
    model = build_tiny_checkpoint("qwen2_vl", tmp_path / "model")
    for shard in range(3):
        with wds.TarWriter(str(tmp_path / f"in-{shard:05d}.tar")) as sink:
            for i in range(2):
                pixels = np.random.default_rng(10 * shard + i).integers(0, 256, (40, 56, 3))
                image = Image.fromarray(pixels.astype(np.uint8))
                record = {"id": f"k{shard}-{i}", "question": "What?", "answers": ["a"]}
                sink.write({"__key__": f"k{shard}-{i}", "json": record, "png": image})
    output = tmp_path / "out"
    submitted = ray_command(
        "job", "submit", "--address", two_node_cluster, "--",
        sys.executable, "-m", "vea_augment.cli", "augment", "--address", "auto",
        "--model", str(model), "--layers", "1", "--input", str(tmp_path / "in-{00000..00002}.tar"),
        "--output", str(output), "--num-actors", "2", "--dtype", "float32", "--device", "cpu",
        "--no-progress",
        timeout=400,
    )  # fmt: skip
    assert submitted.returncode == 0, (submitted.stdout + submitted.stderr)[-3000:]
    assert "shards: 3 written" in submitted.stdout
    stats = [json.loads(p.read_text()) for p in sorted((output / "_stats").glob("*.json"))]
    assert [s["ok"] for s in stats] == [2, 2, 2]
    nodes = {s["worker"].split(":")[1] for s in stats}
    assert len(nodes) == 2, (
        f"both nodes must run actors, got workers {[s['worker'] for s in stats]}"
    )
    shutil.rmtree(output)
