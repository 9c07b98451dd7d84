"""JSON lists of records: the paper release's ``metadata.json`` (Visual-CoT's fields), cut
into byte ranges at planning and read like JSONL records."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image
from reader_inputs import image_bytes, read_all, read_input, release_metadata

from vea_augment.data.readers import read_shard
from vea_augment.data.sources import plan_shards
from vea_augment.errors import ConfigError
from vea_augment.schemas.sample import parse_input_sample

SIZES = [(64, 48), (120, 30), (33, 77), (50, 50), (81, 40)]


def test_the_release_metadata_reads_as_the_input_contract_with_images_of_the_stated_size(
    tmp_path,
):
    path = release_metadata(tmp_path, SIZES)
    samples = read_input(str(path), samples_per_shard=2)
    assert len(samples) == len(SIZES)
    keys = ["0000-R1", "0001_%C3%A9-R2", "0002-R3", "0003-R4", "0004-R5"]
    assert [s.key for s in samples] == keys
    for sample, (width, height) in zip(samples, SIZES, strict=True):
        assert sample.error is None, sample.error
        assert sample.image_ext == "jpg"
        assert Image.open(io.BytesIO(sample.image)).size == (width, height)
        record = sample.record
        assert (record["width"], record["height"]) == (width, height)
        assert record["answers"] == [record["answer"]]
        assert record["evidence_boxes"] == record["bboxs"]
        parse_input_sample(record)  # the contract holds


def test_a_json_list_is_cut_into_byte_ranges_that_hold_the_same_records_every_time(tmp_path):
    path = release_metadata(tmp_path, SIZES)
    tasks = plan_shards(str(path), samples_per_shard=2)
    assert tasks == plan_shards(str(tmp_path / "data" / "textvqa"), samples_per_shard=2)
    assert [(t.kind, t.start, t.stop) for t in tasks] == [
        ("json_list", 0, 2),
        ("json_list", 2, 4),
        ("json_list", 4, 5),
    ]
    data = path.read_bytes()
    for task in tasks:  # each range starts exactly at its first record
        assert data[task.offset : task.offset + 1] == b"{"
    records = json.loads(data)
    read = [s.record["question"] for task in tasks for s in read_shard(task)]
    assert read == [r["question"] for r in records]


def test_json_list_problems_are_named(tmp_path):
    (tmp_path / "ok.png").write_bytes(image_bytes(8, 8, 1))
    path = tmp_path / "mixed.json"
    path.write_text(
        json.dumps(
            [
                {"id": "fine", "question": "q?", "image": "ok.png"},
                [1, 2],
                {"id": "lost", "question": "q?", "image": "absent.png"},
                {"id": "bare", "question": "q?"},
            ]
        )
    )
    samples = read_all(plan_shards(str(path)))
    assert [s.key for s in samples] == ["fine", "record2", "lost", "bare"]
    assert samples[0].error is None
    assert samples[1].error == "record 2 is a list, not a JSON object"
    assert "cannot read image" in samples[2].error and "absent.png" in samples[2].error
    assert samples[3].error == "record has no 'image' path"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('[{"id": 1}, {"id": ', "malformed JSON in record 2"),
        ('[{"id": 1} {"id": 2}', "not closed"),
        ("[]", "holds no samples"),
    ],
)
def test_a_broken_or_empty_json_list_is_a_config_error(tmp_path, text, reason):
    path = tmp_path / "metadata.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=reason):
        plan_shards(str(path))


@pytest.mark.parametrize("layout", ["jsonl", "json_list"])
def test_a_record_nested_too_deep_is_its_own_error_and_the_input_still_plans(tmp_path, layout):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    good = {"id": "ok", "question": "What?", "answers": ["x"], "image": "a.png"}
    deep = "[" * 200_000 + "]" * 200_000
    if layout == "jsonl":
        path = tmp_path / "records.jsonl"
        path.write_text('{"id": "deep", "q": ' + deep + "}\n" + json.dumps(good) + "\n")
    else:
        path = tmp_path / "records.json"
        path.write_text('[{"id": "deep", "q": ' + deep + "}, " + json.dumps(good) + "]")
    samples = read_input(str(path))
    assert len(samples) == 2
    assert "json nested deeper than 64 levels" in samples[0].error
    assert samples[1].error is None and samples[1].key == "ok"
