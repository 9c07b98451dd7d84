"""Chaos: a 20-shard augment job whose actors are killed at random moments several times, and
whose driver is killed once, ends after reruns exactly-once and byte-identical to a clean run.

Everything is real: the CLI in its own process with its own local Ray, the tiny Qwen2-VL, tar
files. Kills are SIGKILL, the worst case (no cleanup runs); only processes descended from the
driver this test started are ever signalled.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import webdataset as wds
from PIL import Image

from vea_augment.testing.processes import augment_actors, descendants, end_all, kill_hard

#: Big enough images that a shard takes about a second, so kills land mid-shard.
SHARDS, PER_SHARD, IMAGE_SHAPE = 20, 4, (336, 448, 3)
#: Fields that record when and where a sample or shard was made, not what it holds.
TIMING_FIELDS = {"timing", "timing_s", "started", "finished", "worker", "created", "heartbeat"}


def write_input(folder: Path) -> str:
    folder.mkdir()
    for shard in range(SHARDS):
        with wds.TarWriter(str(folder / f"in-{shard:05d}.tar")) as sink:
            for i in range(PER_SHARD):
                rng = np.random.default_rng(100 * shard + i)
                pixels = rng.integers(0, 256, IMAGE_SHAPE).astype(np.uint8)
                record = {
                    "id": f"s{shard}-{i}",
                    "question": "What colour is it?",
                    "answers": ["red"],
                    "evidence_boxes": [[40, 40, 300, 200]],
                }
                sink.write(
                    {"__key__": f"s{shard}-{i}", "json": record, "png": Image.fromarray(pixels)}
                )
    return str(folder / f"in-{{00000..{SHARDS - 1:05d}}}.tar")


def augment_command(model_dir: Path, source: str, output: Path) -> list[str]:
    return [
        sys.executable, "-m", "vea_augment.cli", "augment", "--model", str(model_dir),
        "--layers", "1,2", "--input", source, "--output", str(output), "--num-actors", "2",
        "--dtype", "float32", "--device", "cpu", "--batch-size", "2", "--no-progress",
    ]  # fmt: skip


def environment() -> dict[str, str]:
    return {**os.environ, "RAY_AUTH_MODE": "disabled", "OMP_NUM_THREADS": "1"}


def run_to_end(command: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=environment(), check=False
    )


class ActorKiller(threading.Thread):
    """Kills one of the driver's busy augment actors at random moments, ``times`` times."""

    def __init__(self, driver: int, times: int, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.driver, self.times, self.rng = driver, times, rng
        self.killed: list[int] = []
        self.seen: set[Any] = set()
        self.stop = threading.Event()

    def run(self) -> None:
        while len(self.killed) < self.times and not self.stop.is_set():
            self.seen.update(descendants(self.driver))
            busy = augment_actors(self.driver, busy_only=True)
            if busy and self.stop.wait(self.rng.uniform(0.05, 0.8)) is False:
                victim = self.rng.choice(busy)
                if kill_hard(victim):
                    self.killed.append(victim.pid)
            else:
                self.stop.wait(0.2)


def committed_shards(output: Path) -> int:
    return (
        len(list((output / "_stats").glob("shard-*.json"))) if (output / "_stats").is_dir() else 0
    )


def without_timing(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k not in TIMING_FIELDS}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


def tar_contents(path: Path) -> list[tuple[str, Any]]:
    """Every member in order: its name and bytes (json members without timing fields)."""
    members = []
    with tarfile.open(path) as archive:
        for info in archive.getmembers():
            data = archive.extractfile(info).read()
            if info.name.endswith(".json"):
                members.append((info.name, without_timing(json.loads(data))))
            else:
                members.append((info.name, data))
    return members


def output_contents(output: Path) -> dict[str, Any]:
    """The folder as the comparison sees it: shard tars, stats and the manifest's content."""
    contents: dict[str, Any] = {}
    for path in sorted(output.rglob("*")):
        if path.is_dir():
            continue
        name = str(path.relative_to(output))
        if path.suffix == ".tar":
            contents[name] = tar_contents(path)
        elif path.suffix == ".json" and not name.startswith("_lock"):
            document = without_timing(json.loads(path.read_text()))
            if isinstance(document, dict):
                document.pop("output", None)  # the folder's own path differs between the runs
                document.get("config", {}).pop("output", None)
                for failure in document.get("failures", []):
                    failure.pop("output", None)
            contents[name] = document
        else:
            contents[name] = path.read_bytes()
    return contents


@pytest.mark.timeout(900)
def test_killed_actors_and_a_killed_driver_end_exactly_once_and_identical_to_a_clean_run(
    model_dir, tmp_path
):
    source = write_input(tmp_path / "input")
    clean = run_to_end(augment_command(model_dir, source, tmp_path / "clean"))
    assert clean.returncode == 0, (clean.stdout + clean.stderr)[-3000:]

    chaos = tmp_path / "chaos"
    rng = random.Random(20261201)
    driver = subprocess.Popen(
        augment_command(model_dir, source, chaos),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment(),
    )  # fmt: skip
    killer = ActorKiller(driver.pid, times=4, rng=rng)
    killer.start()
    try:
        deadline = time.monotonic() + 400
        # The driver dies once the actors have been killed and some, not all, shards are done.
        while time.monotonic() < deadline and driver.poll() is None:
            if len(killer.killed) >= killer.times and 0 < committed_shards(chaos) < SHARDS:
                break
            time.sleep(0.1)
        killer.seen.update(descendants(driver.pid))
        driver_was_killed = driver.poll() is None
        if driver_was_killed:
            driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=60)
    finally:
        killer.stop.set()
        killer.join(timeout=10)
        end_all(sorted(killer.seen, key=lambda p: p.pid))
    assert len(killer.killed) == killer.times, "the actors must be killed mid-shard"
    assert driver_was_killed, "the driver must be killed before the job ends"
    assert committed_shards(chaos) < SHARDS

    for _ in range(3):
        rerun = run_to_end(augment_command(model_dir, source, chaos))
        if rerun.returncode == 0:
            break
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-3000:]

    expected, got = output_contents(tmp_path / "clean"), output_contents(chaos)
    assert sorted(got) == sorted(expected)
    keys = [
        name.split(".")[0]
        for shard in sorted(chaos.glob("shard-*.tar"))
        for name, _ in tar_contents(shard)
        if name.endswith(".json")
    ]
    assert sorted(keys) == sorted(f"s{s}-{i}" for s in range(SHARDS) for i in range(PER_SHARD))
    for name in expected:
        assert got[name] == expected[name], f"{name} differs from the clean run"
    assert not [p for p in chaos.rglob("*") if ".tmp" in p.name or p.name.startswith(".")]
