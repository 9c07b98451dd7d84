"""Output shards every client reads: Hugging Face ``datasets``, Ray Data and ``answer`` from
any working directory, with failed samples in them, and the input's own fields kept.

A real augment job (tiny real VLM, local Ray) writes shards holding ok samples and every kind
of failure (undecodable bytes, zero bytes, no image member, no question, a corrupt member);
the readers' own libraries load them.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds
from PIL import Image
from synthetic_images import encoded, noise_image

from vea_augment.data.augmented import originals_beside, read_answer_shard
from vea_augment.data.sources import plan_input
from vea_augment.options import InputOptions
from vea_augment.schemas.sidecar import VEASidecar

OWN_CONVERSATION = [
    {"from": "human", "value": "<image>\nWhat does the sign say?"},
    {"from": "gpt", "value": "open"},
]
OK_KEYS = {"good-0", "good-1", "good-2", "jpeg-0"}
FAILED = {"notimage", "empty", "noimage", "noquestion", "truncated"}


def _record(key: str, **extra: object) -> dict:
    return {
        "id": key,
        "question": "What does the sign say?",
        "answers": ["open"],
        "conversations": OWN_CONVERSATION,
        "source_note": f"kept-{key}",
        **extra,
    }


@pytest.fixture(scope="module")
def input_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("readers-input")
    good_jpeg = encoded(noise_image(40, 30, 7), "JPEG")
    samples = [
        {
            "__key__": f"good-{i}",
            "json": _record(f"good-{i}"),
            "png": encoded(noise_image(48, 40, i)),
        }
        for i in range(3)
    ] + [
        {"__key__": "jpeg-0", "json": _record("jpeg-0"), "jpg": good_jpeg},
        {"__key__": "notimage", "json": _record("notimage"), "png": b"just some text"},
        {"__key__": "empty", "json": _record("empty"), "png": b""},
        {"__key__": "noimage", "json": _record("noimage")},
        {
            "__key__": "noquestion",
            "json": {"id": "noquestion"},
            "png": encoded(noise_image(20, 20)),
        },
        {"__key__": "truncated", "json": _record("truncated"), "jpg": good_jpeg[:200]},
    ]
    with wds.TarWriter(str(root / "in-00000.tar")) as sink:
        for sample in samples:
            sink.write(sample)
    return root


def _augment_cli(model_dir: Path, input_root: Path, output: Path) -> None:
    """Run ``vea-augment augment`` with a RELATIVE input, from the input's folder."""
    command = [
        sys.executable, "-m", "vea_augment.cli", "augment", "--model", str(model_dir),
        "--layers", "1,2", "--input", "in-{00000..00000}.tar", "--output", str(output),
        "--num-actors", "1", "--dtype", "float32", "--device", "cpu", "--no-progress",
        "--image-format", "png",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=input_root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def augmented(input_root, model_dir, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("readers-output") / "out"
    _augment_cli(model_dir, input_root, output)
    return output


def _members(shard: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    with tarfile.open(shard) as archive:
        for name in archive.getnames():
            key, _, extension = name.partition(".")
            found.setdefault(key, set()).add(extension)
    return found


def test_every_sample_has_the_same_members_and_failures_pass_the_original_through(
    augmented, input_root
):
    members = _members(augmented / "shard-00000.tar")
    assert set(members) >= OK_KEYS | FAILED
    assert {frozenset(m) for m in members.values()} == {
        frozenset({"png", "mask.png", "scores.npy", "json"})
    }
    with tarfile.open(augmented / "shard-00000.tar") as archive:
        data = {m.name: archive.extractfile(m).read() for m in archive.getmembers()}
    for key in members:
        vea = VEASidecar.model_validate(json.loads(data[f"{key}.json"])["vea"])
        if key in OK_KEYS:
            assert vea.status == "ok" and vea.image == "highlighted" and not vea.placeholders
            continue
        assert vea.status == "error" and vea.reason
        assert vea.placeholders == ["mask.png", "scores.npy"]
        assert np.load(io.BytesIO(data[f"{key}.scores.npy"])).shape == (0, 0)
        assert np.asarray(Image.open(io.BytesIO(data[f"{key}.mask.png"]))).min() == 255
    assert data["notimage.png"] == b"just some text" and data["empty.png"] == b""
    status = {k: json.loads(data[f"{k}.json"])["vea"]["image"] for k in FAILED}
    assert status == {
        "notimage": "original",
        "empty": "none",
        "noimage": "none",
        "noquestion": "original",
        "truncated": "original",  # bytes as read: a JPEG that cannot be decoded
    }
    assert data["noquestion.png"] == encoded(noise_image(20, 20))


def test_the_input_s_own_conversations_and_fields_survive(augmented):
    with tarfile.open(augmented / "shard-00000.tar") as archive:
        records = {
            m.name.split(".")[0]: json.loads(archive.extractfile(m).read())
            for m in archive.getmembers()
            if m.name.endswith(".json")
        }
    for key in OK_KEYS | (FAILED - {"noquestion"}):
        assert records[key]["conversations"] == OWN_CONVERSATION, key
        assert records[key]["source_note"] == f"kept-{key}"
    for key in OK_KEYS:
        vea_turns = records[key]["vea"]["conversations"]
        assert vea_turns[0]["from"] == "human" and vea_turns[0]["value"].startswith("<image>\n")
        assert vea_turns[1] == {"from": "gpt", "value": "open"}


def test_huggingface_datasets_loads_every_row(augmented):
    datasets = pytest.importorskip("datasets")
    loaded = datasets.load_dataset(
        "webdataset", data_files=str(augmented / "shard-*.tar"), split="train"
    )
    expected = set(_members(augmented / "shard-00000.tar"))
    assert len(loaded) == len(expected)
    assert set(loaded.column_names) >= {"png", "mask.png", "scores.npy", "json"}
    assert set(loaded["__key__"]) == expected
    statuses = {
        row["__key__"]: row["json"]["vea"]["status"]
        for row in loaded.select_columns(["__key__", "json"])
    }
    assert {k for k, s in statuses.items() if s == "ok"} == OK_KEYS
    ok = loaded.filter(lambda record: record["vea"]["status"] == "ok", input_columns="json")
    for row in ok:  # decoding every image of the ok rows works
        assert row["png"].size == row["mask.png"].size


def test_ray_data_reads_every_row(augmented, local_ray):
    import ray

    rows = ray.data.read_webdataset(str(augmented / "shard-00000.tar"), decoder=None).take_all()
    assert {row["__key__"] for row in rows} == set(_members(augmented / "shard-00000.tar"))
    for row in rows:
        assert all(row[column] is not None for column in ("png", "mask.png", "scores.npy"))
        assert json.loads(row["json"])["vea"]["status"] in {"ok", "error"}
    # Eager decoding works for shards whose failed samples still hold images.
    decoded = (
        ray.data.read_webdataset(str(augmented / "shard-00000.tar"), decoder=None)
        .filter(lambda row: json.loads(row["json"])["vea"]["image"] in {"highlighted"})
        .take_all()
    )
    assert {row["__key__"] for row in decoded} == OK_KEYS


def test_answer_finds_the_originals_from_another_working_directory(
    augmented, input_root, tmp_path, monkeypatch
):
    manifest = json.loads((augmented / "_manifest.json").read_text())
    assert manifest["input"] == str(input_root / "in-{00000..00000}.tar")
    assert manifest["output"] == str(augmented)
    monkeypatch.chdir(tmp_path)
    (task,) = plan_input(str(augmented), InputOptions())
    samples = {s.key: s for s in read_answer_shard(task, originals_beside(task))}
    with tarfile.open(input_root / "in-00000.tar") as archive:
        good = archive.extractfile("good-1.png").read()
    for key in OK_KEYS:
        assert "original" in samples[key].images, samples[key].missing
        assert "highlighted" in samples[key].images
    assert samples["good-1"].images["original"].data == good
    assert "original" not in samples["empty"].images
