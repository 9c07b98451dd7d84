"""Readers, keys and the shard writer, on real tar files and real WebDataset tooling."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
import webdataset as wds
from PIL import Image

from vea_augment.data.keys import escape_key, split_member_name, unescape_key
from vea_augment.data.readers import read_shard
from vea_augment.data.sources import ShardTask, plan_shards
from vea_augment.data.writer import (
    OutputSample,
    ShardWriter,
    finished_shards,
    remove_stale_temporaries,
    shard_path,
    stats_path,
)
from vea_augment.errors import ConfigError
from vea_augment.schemas import ShardStats


def _png(color=(200, 10, 10), size=(8, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def _record(sample_id: str) -> bytes:
    return json.dumps({"id": sample_id, "question": "q?", "answers": ["a"]}).encode()


def _write_tar(path, samples):
    with wds.TarWriter(str(path)) as sink:
        for sample in samples:
            sink.write(sample)


def _stats(index=0):
    return ShardStats(shard=index, source="in", output="out", total=0, ok=0, errors=0)


# keys ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sample_id", "key"),
    [
        ("abc_12-x", "abc_12-x"),
        ("X51006555072.jpg", "X51006555072%2Ejpg"),
        ("a/b c", "a%2Fb%20c"),
        ("100%", "100%25"),
    ],
)
def test_escape_key_removes_dots_and_slashes_reversibly(sample_id, key):
    assert escape_key(sample_id) == key
    assert unescape_key(key) == sample_id


def test_member_extension_starts_at_the_first_dot():
    assert split_member_name("k1.mask.png") == ("k1", "mask.png")
    assert split_member_name("dir/k1.JPG") == ("dir/k1", "jpg")


# planning -----------------------------------------------------------------------------------


def test_brace_pattern_expands_to_one_task_per_shard(tmp_path):
    for index in range(3):
        _write_tar(tmp_path / f"in-{index:03d}.tar", [])
    tasks = plan_shards(str(tmp_path / "in-{000..002}.tar"))
    assert [(t.index, t.source.rsplit("/", 1)[1]) for t in tasks] == [
        (0, "in-000.tar"),
        (1, "in-001.tar"),
        (2, "in-002.tar"),
    ]


def test_jsonl_is_cut_into_shards_of_samples_per_shard_lines(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps({"id": str(i)}) + "\n" for i in range(7)))
    tasks = plan_shards(str(path), samples_per_shard=3)
    assert [(t.start, t.stop) for t in tasks] == [(0, 3), (3, 6), (6, 7)]
    assert plan_shards(str(tmp_path), samples_per_shard=3) == tasks


def test_missing_shards_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"2 input shard\(s\) do not exist"):
        plan_shards(str(tmp_path / "x-{0..1}.tar"))


def test_zero_samples_per_shard_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="samples-per-shard"):
        plan_shards(str(tmp_path), samples_per_shard=0)


# WebDataset reading -------------------------------------------------------------------------


def test_webdataset_samples_arrive_in_order_with_record_and_image(tmp_path):
    path = tmp_path / "s.tar"
    _write_tar(
        path, [{"__key__": f"k{i}", "json": _record(f"id{i}"), "png": _png()} for i in range(3)]
    )
    samples = list(read_shard(ShardTask(0, "webdataset", str(path))))
    assert [s.key for s in samples] == ["k0", "k1", "k2"]
    assert all(s.error is None and s.image_ext == "png" for s in samples)
    assert samples[1].record["id"] == "id1"


def test_visual_cot_field_names_in_a_tar_record_map_onto_the_contract(tmp_path):
    """A tar record with Visual-CoT's ``answer``/``bboxs``/``question_id`` gets ``answers``,
    ``evidence_boxes`` and ``id`` as a JSONL line does; fields it has are never replaced."""
    path = tmp_path / "v.tar"
    visual_cot = {"question": "Q?", "answer": "7", "bboxs": [[1, 2, 3, 4]], "question_id": 12}
    own = {"id": "mine", "question": "Q?", "answer": "x", "answers": ["a", "b"]}
    _write_tar(
        path,
        [
            {"__key__": "v", "json": visual_cot, "png": _png()},
            {"__key__": "o", "json": own, "png": _png()},
        ],
    )
    first, second = read_shard(ShardTask(0, "webdataset", str(path)))
    assert first.record == {
        **visual_cot,
        "answers": ["7"],
        "evidence_boxes": [[1, 2, 3, 4]],
        "id": "12",
    }
    assert second.record == own


def test_pickle_members_are_refused_never_loaded(tmp_path):
    path = tmp_path / "s.tar"
    _write_tar(
        path,
        [
            {"__key__": "evil", "json": _record("evil"), "png": _png(), "pyd": b"\x80\x04."},
            {"__key__": "good", "json": _record("good"), "png": _png()},
        ],
    )
    evil, good = read_shard(ShardTask(0, "webdataset", str(path)))
    assert evil.error == "refused member 'evil.pyd': .pyd can execute code when loaded"
    assert evil.image is None
    assert good.error is None


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ({"png": _png()}, "no .json record in the sample"),
        ({"json": b"{oops"}, ".json record: malformed JSON"),
        ({"json": b"[1, 2]"}, "the .json record is a list, not an object"),
        ({"json": _record("x")}, "no image member"),
        ({"json": _record("x"), "png": _png(), "jpg": _png()}, "several image members"),
    ],
)
def test_malformed_samples_become_error_records(tmp_path, members, reason):
    path = tmp_path / "s.tar"
    _write_tar(
        path,
        [{"__key__": "bad", **members}, {"__key__": "next", "json": _record("n"), "png": _png()}],
    )
    bad, following = read_shard(ShardTask(0, "webdataset", str(path)))
    assert bad.key == "bad"
    assert bad.error.startswith(reason)
    assert following.error is None


def test_corrupt_member_header_is_reported_and_later_samples_survive(tmp_path):
    path = tmp_path / "s.tar"
    _write_tar(
        path, [{"__key__": f"k{i}", "json": _record(f"id{i}"), "png": _png()} for i in range(3)]
    )
    data = bytearray(path.read_bytes())
    with tarfile.open(path) as archive:
        victim = next(m for m in archive.getmembers() if m.name == "k1.png")
    # smash every header block of the member (WebDataset writes a pax header before it)
    data[victim.offset : victim.offset_data] = b"\xff" * (victim.offset_data - victim.offset)
    path.write_bytes(bytes(data))
    samples = list(read_shard(ShardTask(0, "webdataset", str(path))))
    keys = [s.key for s in samples]
    assert keys[0] == "k0" and keys[-1] == "k2"
    assert samples[-1].error is None
    corrupt = [s for s in samples if s.key.startswith("corrupt@")]
    assert len(corrupt) == 1 and "skipped" in corrupt[0].error
    k1 = next(s for s in samples if s.key == "k1")
    assert k1.error.startswith("no image member")


def test_truncated_tar_ends_with_an_error_naming_the_sample(tmp_path):
    path = tmp_path / "s.tar"
    _write_tar(
        path,
        [
            {"__key__": f"k{i}", "json": _record(f"id{i}"), "png": _png(size=(64, 64))}
            for i in range(2)
        ],
    )
    data = path.read_bytes()
    with tarfile.open(path) as archive:
        victim = next(m for m in archive.getmembers() if m.name == "k1.png")
    path.write_bytes(data[: victim.offset_data + 20])
    samples = list(read_shard(ShardTask(0, "webdataset", str(path))))
    assert samples[0].key == "k0" and samples[0].error is None
    assert samples[-1].key == "k1"
    assert "truncated" in samples[-1].error


# JSONL reading ------------------------------------------------------------------------------


def test_visual_cot_records_are_read_as_they_are(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "X51006555072.jpg").write_bytes(_png())
    line = {
        "question": "Total?",
        "answer": "9.00",
        "image": "img/X51006555072.jpg",
        "bboxs": [[1, 2, 3, 4]],
        "dataset": "sroie",
    }
    path = tmp_path / "viscot.jsonl"
    path.write_text(json.dumps(line) + "\n")
    (sample,) = read_shard(plan_shards(str(path))[0])
    assert sample.error is None
    assert sample.key == "X51006555072-L1"
    assert sample.record["answers"] == ["9.00"]
    assert sample.record["evidence_boxes"] == [[1, 2, 3, 4]]
    assert sample.record["answer"] == "9.00"  # the original fields stay


def test_jsonl_problems_are_error_records_and_reading_goes_on(tmp_path):
    (tmp_path / "ok.png").write_bytes(_png())
    lines = [
        "{not json",
        json.dumps({"id": "no-image", "question": "q"}),
        json.dumps({"id": "missing", "question": "q", "image": "absent.png"}),
        json.dumps({"id": "fine.1", "question": "q", "image": "ok.png"}),
    ]
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(lines) + "\n")
    samples = list(read_shard(plan_shards(str(path))[0]))
    assert [s.key for s in samples] == ["line1", "no-image", "missing", "fine%2E1"]
    assert "malformed JSON" in samples[0].error
    assert samples[1].error == "record has no 'image' path"
    assert "cannot read image" in samples[2].error and "absent.png" in samples[2].error
    assert samples[3].error is None and samples[3].image_ext == "png"


# writing ------------------------------------------------------------------------------------


def _output(key: str) -> OutputSample:
    return OutputSample(
        key=key,
        record={"id": key},
        image_ext="png",
        highlighted=_png(),
        mask_png=_png(),
        scores_npy=b"npy",
        original=None,
    )


def test_committed_shard_is_readable_by_webdataset_with_multi_part_extensions(tmp_path):
    with ShardWriter(tmp_path, 3) as writer:
        writer.write(_output("a"))
        writer.write(_output("b"))
        writer.commit(_stats(3))
    dataset = wds.WebDataset(str(shard_path(tmp_path, 3)), shardshuffle=False)
    samples = list(dataset)
    assert [s["__key__"] for s in samples] == ["a", "b"]
    assert set(samples[0]) >= {"png", "mask.png", "scores.npy", "json"}
    assert finished_shards(tmp_path) == {3}
    assert json.loads(stats_path(tmp_path, 3).read_text())["shard"] == 3


def test_members_are_written_in_a_fixed_order_with_a_fixed_mtime(tmp_path):
    for name in ("one", "two"):
        with ShardWriter(tmp_path / name, 0) as writer:
            writer.write(_output("a"))
            writer.commit(_stats())
    first = shard_path(tmp_path / "one", 0).read_bytes()
    assert first == shard_path(tmp_path / "two", 0).read_bytes()
    with tarfile.open(shard_path(tmp_path / "one", 0)) as archive:
        assert archive.getnames() == ["a.png", "a.mask.png", "a.scores.npy", "a.json"]


def test_uncommitted_shard_leaves_nothing_visible(tmp_path):
    with pytest.raises(RuntimeError), ShardWriter(tmp_path, 0) as writer:
        writer.write(_output("a"))
        raise RuntimeError("worker died")
    assert finished_shards(tmp_path) == set()
    assert list(tmp_path.iterdir()) == []


def test_stale_temporaries_from_a_killed_writer_are_removed(tmp_path):
    writer = ShardWriter(tmp_path, 0)
    writer.write(_output("a"))  # never committed nor aborted: as if the process was killed
    assert remove_stale_temporaries(tmp_path) == 1
    assert finished_shards(tmp_path) == set()


def test_the_writer_never_raises_for_a_bad_key_it_sanitises_and_renames_it(tmp_path):
    with ShardWriter(tmp_path, 0) as writer:
        written = [writer.write(_output(key)) for key in ("a", "a", "a.b", "../x", "./a")]
    assert written == ["a", "a-dup1", "a%2Eb", "x", "a-dup2"]
