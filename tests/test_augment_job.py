"""The augment job end to end: a real local Ray cluster, real tar shards, a tiny real VLM.

Every input sample must come out exactly once (ok or error with its key and reason), bad
inputs must not stop the job, a killed actor's shard is redone elsewhere, and a killed driver
resumes without redoing finished shards.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import ray
import webdataset as wds
from PIL import Image
from progress_bars import record_bars
from synthetic_images import encoded, noise_image
from tiny_jobs import tiny_augment_job

from vea_augment.data.images import decode_image
from vea_augment.jobs.augment import AugmentJob, run_augment_job
from vea_augment.schemas.sidecar import VEASidecar

MAX_PIXELS = 1_000_000


def record(sample_id: str, **extra) -> bytes:
    base = {"id": sample_id, "question": "What is written?", "answers": ["open"]}
    return json.dumps({**base, **extra}).encode()


def exif_rotated_jpeg() -> bytes:
    """A 60x40 JPEG whose EXIF orientation 6 makes it 40x60 upright."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encoded(noise_image(60, 40, 9), "JPEG", exif=exif.tobytes())


def sample(key: str, image_ext: str, image: bytes, **record_fields) -> dict:
    return {"__key__": key, "json": record(key, **record_fields), image_ext: image}


def bad_and_odd_samples() -> list[dict]:
    good_jpeg = encoded(noise_image(64, 48, 1), "JPEG")
    no_question = sample("noquestion", "png", encoded(noise_image(32, 32, 2), "PNG"))
    no_question["json"] = json.dumps({"id": "noquestion"}).encode()
    pickled = sample("pickled", "png", encoded(noise_image(20, 20, 5), "PNG"))
    pickled["pkl"] = b"\x80\x04."
    return [
        sample("truncated", "jpg", good_jpeg[: len(good_jpeg) // 2]),
        sample("empty", "jpg", b""),
        sample("notimage", "png", b"just some text"),
        sample("bomb", "png", encoded(Image.new("RGB", (2000, 1000), (10, 10, 10)), "PNG")),
        no_question,
        sample(
            "outside",
            "png",
            encoded(noise_image(50, 40, 3), "PNG"),
            evidence_boxes=[[-40, -40, 500, 20]],
        ),
        sample(
            "png16", "png", encoded(Image.fromarray(np.full((30, 40), 40000, np.uint16)), "PNG")
        ),
        sample("cmyk", "jpg", encoded(noise_image(44, 36, 4).convert("CMYK"), "JPEG")),
        sample("exif", "jpg", exif_rotated_jpeg()),
        pickled,
    ]


def good_samples(shard: int, count: int) -> list[dict]:
    return [
        {
            "__key__": f"s{shard}-{i}",
            "json": record(f"s{shard}-{i}", evidence_boxes=[[5, 5, 20, 20]]),
            "png": encoded(noise_image(48 + 8 * i, 40 + 4 * shard, 100 * shard + i), "PNG"),
        }
        for i in range(count)
    ]


def write_shard(path: Path, samples: list[dict]) -> None:
    with wds.TarWriter(str(path)) as sink:
        for sample in samples:
            sink.write(sample)


def smash_member_header(path: Path, member_name: str) -> None:
    data = bytearray(path.read_bytes())
    with tarfile.open(path) as archive:
        victim = next(m for m in archive.getmembers() if m.name == member_name)
    data[victim.offset : victim.offset_data] = b"\xff" * (victim.offset_data - victim.offset)
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def input_shards(tmp_path_factory) -> tuple[str, dict[str, str]]:
    """Three shards: good samples, every kind of bad input, and a corrupt tar member."""
    root = tmp_path_factory.mktemp("input")
    write_shard(root / "in-00000.tar", good_samples(0, 3) + bad_and_odd_samples()[:5])
    write_shard(root / "in-00001.tar", good_samples(1, 2) + bad_and_odd_samples()[5:])
    write_shard(root / "in-00002.tar", good_samples(2, 4))
    smash_member_header(root / "in-00002.tar", "s2-1.png")
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.glob("*.tar")}
    return str(root / "in-{00000..00002}.tar"), digests


def read_output(output: Path) -> dict[str, dict[str, bytes]]:
    samples: dict[str, dict[str, bytes]] = {}
    for shard in sorted(output.glob("shard-*.tar")):
        with tarfile.open(shard) as archive:
            for member in archive.getmembers():
                key, _, extension = member.name.partition(".")
                assert extension not in samples.setdefault(key, {}), f"duplicate {member.name}"
                samples[key][extension] = archive.extractfile(member).read()
    return samples


def all_failures(output: Path) -> dict[str, str]:
    failures = {}
    for path in sorted((output / "_stats").glob("shard-*.json")):
        for failure in json.loads(path.read_text())["failures"]:
            failures[failure["key"]] = failure["reason"]
    return failures


def make_job(source: str, output: Path, model_dir: Path, **overrides) -> AugmentJob:
    return tiny_augment_job(
        source, output, model_dir, batch_size=3, max_pixels=MAX_PIXELS, **overrides
    )


EXPECTED_OK = {"s0-0", "s0-1", "s0-2", "s1-0", "s1-1", "outside", "png16", "cmyk", "exif"}
EXPECTED_ERRORS = {
    "truncated": "decode",
    "empty": "not an image",
    "notimage": "not an image",
    "bomb": "pixels",
    "noquestion": "question",
    "pickled": ".pkl",
    "s2-1": "",
}


def test_every_sample_comes_out_once_with_mask_and_sidecar(
    local_ray, model_dir, input_shards, tmp_path
):
    source, digests = input_shards
    summary = run_augment_job(make_job(source, tmp_path, model_dir, num_actors=2), False)
    assert summary.shards_done == 3 and not summary.shards_failed
    samples = read_output(tmp_path)
    failures = all_failures(tmp_path)
    ok = {
        key
        for key, members in samples.items()
        if json.loads(members["json"])["vea"]["status"] == "ok"
    }
    assert EXPECTED_OK | {"s2-0", "s2-2", "s2-3"} == ok
    for key, hint in EXPECTED_ERRORS.items():
        assert hint in failures[key].lower() or hint in failures[key], (key, failures[key])
    assert any(key.startswith("corrupt@") for key in failures), failures
    assert summary.ok == len(ok) and summary.errors == len(failures)
    for key in ok:
        members = samples[key]
        record = json.loads(members["json"])
        sidecar = VEASidecar.model_validate(record["vea"])
        image_ext = next(ext for ext in members if ext in {"png", "jpg"})
        highlighted = Image.open(io.BytesIO(members[image_ext]))
        mask = Image.open(io.BytesIO(members["mask.png"]))
        assert mask.mode == "L" and mask.size == highlighted.size == tuple(sidecar.image_size)
        assert "What is written?" in sidecar.prompt and "<|image_pad|>" in sidecar.prompt
        assert np.load(io.BytesIO(members["scores.npy"])).dtype == np.float16
        assert record["vea"]["conversations"][0]["value"].startswith("<image>\n")
    exif_size = Image.open(io.BytesIO(samples["exif"]["jpg"])).size
    assert exif_size == (40, 60), "the EXIF rotation is applied before the mask"
    assert json.loads(samples["outside"]["json"])["vea"]["boxes_clipped"] == 1
    for key, _reason in EXPECTED_ERRORS.items():
        if key in samples:
            assert json.loads(samples[key]["json"])["vea"]["status"] == "error"
    for path in Path(source).parent.glob("*.tar"):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digests[path.name]


def test_a_killed_actor_s_shard_is_redone_without_duplicates_or_gaps(
    local_ray, model_dir, input_shards, tmp_path
):
    source, _ = input_shards
    reference = tmp_path / "reference"
    run_augment_job(make_job(source, reference, model_dir, num_actors=1), False)
    killed: list[str] = []

    def kill_when_a_shard_is_half_written() -> None:
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            if any(".tmp-" in p.name for p in (tmp_path / "faulty").glob("*")):
                for actor in ray.util.list_named_actors(all_namespaces=True):
                    if actor["name"].startswith("vea-augment-"):
                        ray.kill(ray.get_actor(actor["name"], namespace=actor["namespace"]))
                        killed.append(actor["name"])
            time.sleep(0.01)

    killer = threading.Thread(target=kill_when_a_shard_is_half_written)
    killer.start()
    summary = run_augment_job(make_job(source, tmp_path / "faulty", model_dir, num_actors=1), False)
    killer.join()
    assert killed, "the test must really kill an actor mid-shard"
    assert summary.actor_restarts >= 1 and not summary.shards_failed
    redone, expected = read_output(tmp_path / "faulty"), read_output(reference)
    assert sorted(redone) == sorted(expected)
    assert not list((tmp_path / "faulty").glob("*.tmp-*"))


DRIVER_KILL_SHARDS = 12


@pytest.fixture(scope="module")
def many_small_shards(tmp_path_factory) -> str:
    """Twelve shards of good samples, so a driver killed after the first shard leaves work undone
    however fast the machine is."""
    root = tmp_path_factory.mktemp("many")
    for shard in range(DRIVER_KILL_SHARDS):
        write_shard(root / f"in-{shard:05d}.tar", good_samples(shard, 3))
    return str(root / f"in-{{00000..{DRIVER_KILL_SHARDS - 1:05d}}}.tar")


def test_a_killed_driver_resumes_without_redoing_finished_shards(
    model_dir, many_small_shards, tmp_path
):
    output = tmp_path / "out"
    command = [
        sys.executable, "-m", "vea_augment.cli", "augment", "--model", str(model_dir),
        "--layers", "1,2", "--input", many_small_shards, "--output", str(output),
        "--num-actors", "1", "--dtype", "float32", "--device", "cpu",
        "--max-image-pixels", str(MAX_PIXELS), "--no-progress",
    ]  # fmt: skip
    driver = subprocess.Popen(command, start_new_session=True, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and not (output / "shard-00000.tar").exists():
        assert driver.poll() is None, "the driver ended before the first shard was done"
        time.sleep(0.02)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    # An orphaned actor may still commit the shard it was on; let it finish or die first.
    time.sleep(3)
    finished = {p.name: p.stat().st_mtime_ns for p in output.glob("shard-*.tar")}
    assert 1 <= len(finished) < DRIVER_KILL_SHARDS, "the driver must be killed before the job ends"
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{len(finished)} already done" in rerun.stdout
    for name, mtime in finished.items():
        assert (output / name).stat().st_mtime_ns == mtime, f"{name} was redone"
    samples = read_output(output)
    assert sorted(samples) == sorted(
        f"s{shard}-{i}" for shard in range(DRIVER_KILL_SHARDS) for i in range(3)
    )
    assert sorted(p.name for p in output.glob("shard-*.tar")) == [
        f"shard-{shard:05d}.tar" for shard in range(DRIVER_KILL_SHARDS)
    ]
    decode_image(samples["s0-0"]["png"])


def test_the_bar_counts_every_sample_once_across_two_actors_and_a_killed_one(
    local_ray, model_dir, many_small_shards, tmp_path, monkeypatch
):
    bars = record_bars(monkeypatch)
    killed: list[str] = []

    def kill_one_actor_mid_shard() -> None:
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            if any(".tmp-" in p.name for p in tmp_path.glob("*")):
                for actor in ray.util.list_named_actors(all_namespaces=True):
                    if actor["name"].startswith("vea-augment-"):
                        ray.kill(ray.get_actor(actor["name"], namespace=actor["namespace"]))
                        killed.append(actor["name"])
                        break
            time.sleep(0.01)

    killer = threading.Thread(target=kill_one_actor_mid_shard)
    killer.start()
    job = tiny_augment_job(
        many_small_shards, tmp_path, model_dir, batch_size=1, max_pixels=MAX_PIXELS, num_actors=2
    )
    summary = run_augment_job(job, show_progress=True)
    killer.join()
    assert killed and summary.actor_restarts >= 1 and not summary.shards_failed
    (bar,) = bars
    samples = DRIVER_KILL_SHARDS * 3
    assert summary.samples == samples
    assert bar.unit == "sample" and bar.initial_total is None  # tars: size known when read
    assert bar.n == samples and max(bar.seen) <= samples, bar.seen
    # Tars: no total up front; estimated once a shard has ended, exact when all have.
    assert bar.totals and bar.totals[-1] == samples, bar.totals
    assert bar.postfix["shards"] == f"{DRIVER_KILL_SHARDS}/{DRIVER_KILL_SHARDS}"
