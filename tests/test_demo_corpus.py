"""The synthetic evidence-VQA corpus: deterministic, exact boxes, one answering object."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vea_augment.data.readers import read_shard
from vea_augment.data.sources import plan_shards
from vea_augment.demo.corpus import (
    COLOURS,
    VOCABULARY,
    CorpusConfig,
    generate_samples,
    write_jsonl,
    write_webdataset,
)
from vea_augment.steps.augment import AugmentSettings, prepare_sample
from vea_augment.testing.tiny import build_tiny_checkpoint


def test_the_same_seed_gives_the_same_corpus_and_another_seed_another():
    first, again = generate_samples(6, 7), generate_samples(6, 7)
    assert [s.record() for s in first] == [s.record() for s in again]
    assert all(
        np.array_equal(np.asarray(a.image), np.asarray(b.image))
        for a, b in zip(first, again, strict=True)
    )
    other = generate_samples(6, 8)
    assert [s.record() for s in first] != [s.record() for s in other]


def test_each_question_is_answered_by_exactly_one_object_inside_its_box():
    config = CorpusConfig()
    for sample in generate_samples(40, 3):
        (box,) = sample.evidence_boxes
        assert 0 <= box[0] < box[2] <= config.size and 0 <= box[1] < box[3] <= config.size
        # The box lies inside one token cell, so exactly one token holds the evidence.
        assert int(box[0]) // config.cell == int(box[2] - 1) // config.cell
        assert int(box[1]) // config.cell == int(box[3] - 1) // config.cell
        answer = sample.answers[0]
        matching = [
            o for o in sample.objects if answer in (o.get("colour"), o.get("shape"), o.get("digit"))
        ]
        assert len(matching) == 1 and matching[0]["box"] == box
        asked = [
            o for o in sample.objects
            if any(f" {value}" in sample.question for value in o.values() if isinstance(value, str))
        ]  # fmt: skip
        assert asked == matching
        pixels = np.asarray(sample.image)
        x0, y0, x1, y1 = (int(v) for v in box)
        colour = np.array(COLOURS[matching[0]["colour"]])
        distance = np.abs(pixels[y0:y1, x0:x1].astype(int) - colour).sum(axis=-1)
        assert (distance < 30).mean() > 0.08, "the object's colour is not inside its box"


@pytest.mark.parametrize("degradation", ["noise", "blur", "mask"])
def test_a_degraded_corpus_keeps_the_scenes_and_changes_the_pixels(degradation):
    clean = generate_samples(4, 11, dataset="c")
    degraded = generate_samples(4, 11, degradation=degradation, dataset="d")
    for a, b in zip(clean, degraded, strict=True):
        assert (a.question, a.answers, a.evidence_boxes) == (
            b.question,
            b.answers,
            b.evidence_boxes,
        )
        difference = np.abs(np.asarray(a.image, float) - np.asarray(b.image, float)).mean()
        assert difference > 1.0


def test_written_shards_and_jsonl_read_back_in_the_input_contract(tmp_path):
    samples = generate_samples(5, 2)
    write_webdataset(samples, tmp_path / "wds", samples_per_shard=2)
    write_jsonl(samples, tmp_path / "jsonl")
    for source in (str(tmp_path / "wds"), str(tmp_path / "jsonl" / "corpus.jsonl")):
        read = [
            prepare_sample(raw, AugmentSettings())
            for task in plan_shards(source, samples_per_shard=2)
            for raw in read_shard(task)
        ]
        assert [p.error for p in read] == [None] * 5
        assert [p.sample.id for p in read] == [s.id for s in samples]
        assert [p.sample.evidence_boxes for p in read] == [
            [tuple(b) for b in s.evidence_boxes] for s in samples
        ]
        assert all(
            np.array_equal(np.asarray(p.image), np.asarray(s.image))
            for p, s in zip(read, samples, strict=True)
        )
    assert json.loads((tmp_path / "jsonl" / "corpus.jsonl").read_text().splitlines()[0])["image"]


def test_every_corpus_word_is_one_token_of_the_tiny_qwen_tokenizer(tmp_path):
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(build_tiny_checkpoint("qwen2_vl", tmp_path / "m"))
    for word in VOCABULARY:
        assert len(processor.tokenizer(word, add_special_tokens=False)["input_ids"]) == 1, word
