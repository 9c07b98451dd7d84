"""Sample isolation: one bad sample never sinks its shard (issue 16).

One real tar holds good samples beside one sample of every bad kind the issue lists (path
keys, duplicates adjacent and not, a JSON nested 200k deep, a 5000-digit integer, a lone
surrogate, validation and decode failures); the augment job on local Ray with the tiny
Qwen2-VL must write every good sample, make every bad one an error record with its key and
the exact reason, and group the reasons by kind in ``errors_by_reason``.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from synthetic_images import encoded, noise_image
from tiny_jobs import tiny_augment_job

from vea_augment.data.keys import sanitize_key
from vea_augment.data.safe_json import JSONRecordError, load_json, load_json_at
from vea_augment.data.writer import OutputSample, RecordEncodeError, ShardWriter
from vea_augment.jobs.augment import run_augment_job
from vea_augment.schemas.stats import ShardStats


def _record(sample_id: str, **extra: object) -> bytes:
    base = {"id": sample_id, "question": "What is written?", "answers": ["open"]}
    return json.dumps({**base, **extra}).encode()


def _png(seed: int) -> bytes:
    return encoded(noise_image(32, 24, seed), "PNG")


DEEP = 200_000
#: (member name, bytes) in tar order: good samples around one of each bad kind.
MEMBERS: list[tuple[str, bytes]] = [
    ("good0.json", _record("good0")),
    ("good0.png", _png(0)),
    ("../up.json", _record("up")),
    ("../up.png", _png(1)),
    ("dir/sub.json", _record("sub")),
    ("dir/sub.png", _png(2)),
    ("./dot.json", _record("dot")),
    ("./dot.png", _png(3)),
    ("twice.json", _record("twice")),
    ("twice.png", _png(4)),
    ("twice.json", _record("twice-again")),
    ("twice.png", _png(5)),
    ("deep.json", b'{"id": "deep", "question": "q", "x": ' + b"[" * DEEP + b"]" * DEEP + b"}"),
    ("deep.png", _png(6)),
    ("bigint.json", b'{"id": "bigint", "question": "q", "n": ' + b"7" * 5000 + b"}"),
    ("bigint.png", _png(7)),
    ("surrogate.json", b'{"id": "surrogate", "question": "\\ud800 what?"}'),
    ("surrogate.png", _png(8)),
    ("noq1.json", json.dumps({"id": "noq1"}).encode()),
    ("noq1.png", _png(9)),
    ("noq2.json", json.dumps({"id": "noq2"}).encode()),
    ("noq2.png", _png(10)),
    ("junk1.json", _record("junk1")),
    ("junk1.png", b"not an image at all"),
    ("junk2.json", _record("junk2")),
    ("junk2.png", b"nor is this"),
    ("gif.json", _record("gif")),
    ("gif.gif", encoded(noise_image(30, 20, 11).convert("P"), "GIF")),
    ("bmp.json", _record("bmp")),
    ("bmp.bmp", encoded(noise_image(30, 20, 12), "BMP")),
    ("good0.json", _record("good0-again")),
    ("good0.png", _png(13)),
    ("good1.json", _record("good1")),
    ("good1.png", _png(14)),
]

#: Output key -> the input key, for the good samples written under a sanitised key.
OK_KEYS = {
    "good0": None,
    "up": "../up",
    "dir%2Fsub": "dir/sub",
    "dot": "./dot",
    "twice": None,
    "gif": None,
    "bmp": None,
    "good1": None,
}
ERRORS = {
    "twice-dup1": ("read", "duplicate key 'twice' (an earlier sample of this shard has it)"),
    "deep": ("read", ".json record: json nested deeper than 64 levels"),
    "bigint": ("read", ".json record: integer with 5000 digits (the limit is 100)"),
    "surrogate": ("read", ".json record: field 'question' holds a lone surrogate U+D800"),
    "noq1": ("validate", "sample 'noq1': field 'question': Field required"),
    "noq2": ("validate", "sample 'noq2': field 'question': Field required"),
    "junk1": ("decode", "junk1: not an image (no known image format)"),
    "junk2": ("decode", "junk2: not an image (no known image format)"),
    "good0-dup1": ("read", "duplicate key 'good0' (an earlier sample of this shard has it)"),
}
BUCKETS = {
    "read: duplicate key '…'": 2,
    "read: .json record: json nested deeper than N levels": 1,
    "read: .json record: integer with N digits": 1,
    "read: .json record: field 'question' holds a lone surrogate U+…": 1,
    "validate: field 'question': Field required": 2,
    "decode: not an image": 2,
}


def _write_tar(path: Path) -> None:
    with tarfile.open(path, "w") as archive:
        for name, data in MEMBERS:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def _read_output(path: Path) -> dict[str, dict[str, bytes]]:
    """Output key -> {extension: bytes}, asserting no key appears in two runs of members."""
    samples: dict[str, dict[str, bytes]] = {}
    with tarfile.open(path) as archive:
        for member in archive:
            key, _, extension = member.name.partition(".")
            samples.setdefault(key, {})[extension] = archive.extractfile(member).read()
    return samples


@pytest.fixture(scope="module")
def isolated(tmp_path_factory, model_dir, local_ray):
    root = tmp_path_factory.mktemp("isolation")
    _write_tar(root / "bad-00000.tar")
    job = tiny_augment_job(str(root / "bad-00000.tar"), root / "out", model_dir)
    summary = run_augment_job(job, show_progress=False)
    stats = ShardStats.model_validate_json((root / "out/_stats/shard-00000.json").read_text())
    return summary, stats, _read_output(root / "out/shard-00000.tar")


def test_every_good_sample_is_written_beside_the_bad_ones(isolated):
    summary, stats, samples = isolated
    assert summary.shards_failed == [] and summary.shards_done == 1
    assert set(samples) == set(OK_KEYS) | set(ERRORS)
    for key, source in OK_KEYS.items():
        vea = json.loads(samples[key]["json"])["vea"]
        assert vea["status"] == "ok", (key, vea.get("reason"))
        assert vea.get("source_key") == source
    assert (stats.total, stats.ok, stats.errors) == (17, 8, 9)


def test_every_bad_sample_is_an_error_record_with_its_key_stage_and_exact_reason(isolated):
    _, stats, samples = isolated
    assert {f.key: (f.stage, f.reason) for f in stats.failures} == ERRORS
    for key, (stage, reason) in ERRORS.items():
        vea = json.loads(samples[key]["json"])["vea"]
        assert (vea["status"], vea["reason"]) == ("error", f"{stage}: {reason}")
    assert {f.key: f.source_key for f in stats.failures if f.source_key} == {
        "twice-dup1": "twice",
        "good0-dup1": "good0",
    }


def test_a_repeated_key_is_two_samples_never_merged(isolated):
    _, _, samples = isolated
    assert json.loads(samples["twice"]["json"])["id"] == "twice"
    assert json.loads(samples["twice-dup1"]["json"])["id"] == "twice-again"
    assert samples["twice-dup1"]["png"] == _png(5)  # the second sample's own image, passed through


def test_errors_by_reason_has_one_bucket_per_kind_not_per_sample(isolated):
    summary, stats, _ = isolated
    assert stats.errors_by_reason == BUCKETS
    assert summary.errors_by_reason == BUCKETS


@pytest.mark.parametrize(
    ("key", "safe"),
    [
        ("plain_key-1", "plain_key-1"),
        ("../../etc/passwd", "etc%2Fpasswd"),
        ("./a/./b//c", "a%2Fb%2Fc"),
        ("tab\there\x00", "tab%09here%00"),
        ("..", "key-" + hashlib.sha1(b"..").hexdigest()[:16]),
        ("é.jpg", "%C3%A9%2Ejpg"),
    ],
)
def test_keys_lose_path_structure_and_unsafe_characters(key, safe):
    assert sanitize_key(key) == safe
    assert "/" not in safe and "." not in safe


def test_a_long_key_is_cut_with_a_hash_that_keeps_two_long_keys_apart():
    first, second = sanitize_key("x" * 300 + "a"), sanitize_key("x" * 300 + "b")
    assert len(first) == len(second) == 160 and first != second
    assert first.startswith("x" * 143 + "-")


def test_json_limits_give_specific_reasons():
    with pytest.raises(JSONRecordError, match=r"^json nested deeper than 3 levels$"):
        load_json('{"a": [[[1]]]}', max_depth=3)
    assert load_json('{"a": [["[[[["]]}', max_depth=3) == {"a": [["[[[["]]}
    with pytest.raises(JSONRecordError, match=r"^integer with 12 digits \(the limit is 11\)$"):
        load_json('{"n": -123456789012}', max_int_digits=11)
    with pytest.raises(JSONRecordError, match=r"^field 'a\.1\.b' holds a lone surrogate U\+DC00$"):
        load_json('{"a": [1, {"b": "x\\udc00"}]}')
    assert load_json('{"s": "\\ud83d\\ude00"}') == {"s": "\U0001f600"}  # a pair is fine


def test_a_too_deep_item_of_a_json_list_does_not_hide_the_next_one():
    text = '[{"a": [[[[1]]]]}, {"b": 2}]'
    value, end, problem = load_json_at(text, 1, max_depth=3)
    assert (value, problem) == (None, "json nested deeper than 3 levels")
    assert load_json_at(text, end + 2) == ({"b": 2}, len(text) - 1, None)


def test_a_record_that_cannot_be_serialised_is_refused_before_anything_is_written(tmp_path):
    good = OutputSample(key="a", record={"id": "a"}, image_ext="png", highlighted=b"x")
    bad = OutputSample(key="b", record={"q": "\ud800"}, image_ext="png", highlighted=b"y")
    with ShardWriter(tmp_path, 0) as writer:
        writer.write(good)
        with pytest.raises(RecordEncodeError, match=r"holds U\+D800 \(surrogates not allowed\)$"):
            writer.write(bad)
        writer.write(OutputSample(key="c", record={"id": "c"}, image_ext="png", highlighted=b"z"))
        writer.commit(ShardStats(shard=0, source="s", output="o", total=3, ok=2, errors=1))
    with tarfile.open(tmp_path / "shard-00000.tar") as archive:
        assert archive.getnames() == ["a.png", "a.json", "c.png", "c.json"]
