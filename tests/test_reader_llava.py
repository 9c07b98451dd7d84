"""LLaVA/ShareGPT conversations, as one JSON list and as JSON lines: the question from the
first human turn, the reference from the first gpt turn, the conversation kept."""

from __future__ import annotations

import json

import pytest
from reader_inputs import llava_records, read_input

from vea_augment.data.sources import plan_shards
from vea_augment.errors import ConfigError


def write(path, records, as_lines: bool) -> str:
    if as_lines:
        path.write_text("".join(json.dumps(record) + "\n" for record in records))
    else:
        path.write_text(json.dumps(records, indent=1))
    return str(path)


@pytest.mark.parametrize("as_lines", [False, True], ids=["json", "jsonl"])
def test_every_conversation_becomes_a_sample_with_its_question_and_reference(tmp_path, as_lines):
    records = llava_records(tmp_path, 5)
    source = write(tmp_path / ("llava.jsonl" if as_lines else "llava.json"), records, as_lines)
    tasks = plan_shards(source, samples_per_shard=2)
    assert {t.kind for t in tasks} == {"llava_jsonl" if as_lines else "llava_json"}
    samples = read_input(source, samples_per_shard=2)
    assert [s.key for s in samples] == [r["id"] for r in records]
    for sample, record in zip(samples, records, strict=True):
        assert sample.error is None, sample.error
        assert sample.record["question"] == record["conversations"][0]["value"][len("<image>\n") :]
        assert sample.record["answers"] == [record["conversations"][1]["value"]]
        assert sample.record["conversations"] == record["conversations"]  # kept as it was
        assert sample.image == (tmp_path / record["image"]).read_bytes()


@pytest.mark.parametrize("as_lines", [False, True], ids=["json", "jsonl"])
def test_a_record_without_a_human_turn_is_an_error_naming_its_id(tmp_path, as_lines):
    records = llava_records(tmp_path, 4)
    records[1]["conversations"] = [{"from": "gpt", "value": "an answer to nothing"}]
    records[2]["conversations"][0]["value"] = "Question first\n<image>"
    del records[3]["image"]  # a text-only conversation
    source = write(tmp_path / ("l.jsonl" if as_lines else "l.json"), records, as_lines)
    samples = read_input(source)
    assert [s.key for s in samples] == [r["id"] for r in records]
    assert samples[0].error is None
    assert samples[1].error == "record '000000000001' has no human turn in 'conversations'"
    assert samples[2].error is None and samples[2].record["question"] == "Question first"
    assert samples[3].error == "record has no 'image' path"


def test_the_llava_format_can_be_named_and_plain_records_refuse_other_formats(tmp_path):
    records = llava_records(tmp_path, 2)
    records[0]["conversations"], records[1]["conversations"] = (
        records[1]["conversations"],
        records[0]["conversations"],
    )
    plain = [{"id": "p", "question": "q?", "image": records[0]["image"], "conversations": "x"}]
    source = write(tmp_path / "mixed.json", plain + records, as_lines=False)
    assert {t.kind for t in plan_shards(source)} == {"json_list"}  # judged by its first record
    samples = read_input(source, input_format="llava")
    assert samples[0].error == "record 'p' has no 'conversations' list"
    assert samples[1].record["question"] == "What colour is object 1?"
    with pytest.raises(ConfigError, match=r"--input-format jsonl, but .* is json"):
        plan_shards(source, input_format="jsonl")
