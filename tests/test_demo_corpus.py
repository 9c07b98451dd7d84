"""The synthetic evidence-VQA corpus: deterministic, exact boxes spanning several tokens, one
answering object among distractors that share its other attribute, and clutter."""

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
from vea_augment.method.labels import covered_fraction
from vea_augment.steps.augment import AugmentSettings, prepare_sample
from vea_augment.testing.tiny import build_tiny_checkpoint

CONFIG = CorpusConfig()
PALETTE = np.array(list(COLOURS.values()))


def token_boxes(config: CorpusConfig = CONFIG) -> np.ndarray:
    """Row-major ``(grid * grid, 4)`` boxes of the token cells."""
    t = config.token
    return np.array(
        [
            [c * t, r * t, c * t + t, r * t + t]
            for r in range(config.grid)
            for c in range(config.grid)
        ],
        dtype=np.float64,
    )


def attribute_of(item: dict[str, object]) -> str:
    """The object's non-colour attribute (its shape or its word)."""
    return str(item.get("shape", item.get("word")))


def near_palette(pixels: np.ndarray, tolerance: int = 30) -> np.ndarray:
    """Per pixel, whether it lies within ``tolerance`` (L1) of some palette colour."""
    distance = np.abs(pixels[..., None, :].astype(int) - PALETTE).sum(axis=-1)
    return (distance < tolerance).any(axis=-1)


def test_the_same_seed_gives_the_same_corpus_and_another_seed_another():
    first, again = generate_samples(6, 7), generate_samples(6, 7)
    assert [s.record() for s in first] == [s.record() for s in again]
    assert [s.objects for s in first] == [s.objects for s in again]
    assert all(
        np.array_equal(np.asarray(a.image), np.asarray(b.image))
        for a, b in zip(first, again, strict=True)
    )
    other = generate_samples(6, 8)
    assert [s.record() for s in first] != [s.record() for s in other]


def test_the_default_image_is_a_7_by_7_grid_of_28_px_tokens():
    (sample,) = generate_samples(1, 0)
    assert CONFIG.size == 196 and sample.image.size == (196, 196)


def test_every_object_covers_a_block_of_at_least_2x2_tokens_and_no_token_beyond_it():
    for sample in generate_samples(60, 3):
        for item in sample.objects:
            covered = covered_fraction(token_boxes(), np.array([item["box"]])).reshape(7, 7)
            rows, columns = np.nonzero(covered > 0)
            height, width = rows.max() - rows.min() + 1, columns.max() - columns.min() + 1
            assert height >= 2 and width >= 2, (sample.id, item)
            # The touched tokens form a full rectangle, none just grazed, most well filled.
            assert len(rows) == height * width
            assert covered[covered > 0].min() > 0.1, (sample.id, item)
            assert covered[covered > 0].mean() > 0.5, (sample.id, item)


def test_the_tokens_of_a_box_are_the_cells_it_overlaps_row_major():
    assert CONFIG.tokens_of([29.0, 2.0, 84.0, 54.0]) == [1, 2, 8, 9]
    assert CONFIG.tokens_of([0.0, 0.0, 28.0, 28.0]) == [0]
    assert CONFIG.tokens_of([140.0, 168.0, 196.0, 196.0]) == [47, 48]


def test_the_question_names_exactly_one_object_and_the_answer_is_its_other_attribute():
    for sample in generate_samples(60, 4):
        (box,) = sample.evidence_boxes
        (asked,) = [o for o in sample.objects if o["box"] == box]
        words = sample.question.rstrip("?").split()
        by_colour = asked["colour"] in words  # else the question names its shape or word
        named = "colour" if by_colour else ("shape" if sample.kind == "shapes" else "word")
        assert str(asked[named]) in words
        assert [o for o in sample.objects if o[named] == asked[named]] == [asked], sample.id
        assert sample.answers == [attribute_of(asked) if by_colour else str(asked["colour"])]


def test_a_distractor_shares_the_evidence_s_answer_so_the_answer_alone_does_not_find_it():
    samples = generate_samples(60, 5)
    assert {s.kind for s in samples} == {"shapes", "words"}
    for sample in samples:
        others = [o for o in sample.objects if o["box"] != sample.evidence_boxes[0]]
        assert len(others) == CONFIG.objects - 1
        assert any(sample.answers[0] in (o["colour"], attribute_of(o)) for o in others), sample.id


def test_each_evidence_box_is_the_exact_bounding_box_of_its_object_s_colour():
    for sample in generate_samples(40, 6):
        pixels = np.asarray(sample.image)
        for item in sample.objects:
            x0, y0, x1, y1 = (int(v) for v in item["box"])
            window = pixels[y0 - 1 : y1 + 1, x0 - 1 : x1 + 1]  # one pixel more on each side
            colour = np.array(COLOURS[str(item["colour"])])
            ys, xs = np.nonzero(np.abs(window.astype(int) - colour).sum(axis=-1) < 30)
            found = [xs.min() + x0 - 1, ys.min() + y0 - 1, xs.max() + x0, ys.max() + y0]
            assert found == [x0, y0, x1, y1], (sample.id, item)


def outside_objects(sample) -> np.ndarray:
    """The sample's pixels outside every object box, as ``(N, 3)`` ints."""
    pixels = np.asarray(sample.image).astype(int)
    outside = np.ones(pixels.shape[:2], dtype=bool)
    for item in sample.objects:
        x0, y0, x1, y1 = (int(v) for v in item["box"])
        outside[y0:y1, x0:x1] = False
    return pixels[outside]


def far_from_grey(pixels: np.ndarray) -> int:
    """How many pixels differ from the background grey (120, spread 10) in every channel by
    more than 30: none of the background, many of a dark or light mark."""
    return int((np.abs(pixels - 120).min(axis=-1) > 30).sum())


def test_clutter_marks_the_background_in_greys_that_no_palette_colour_is_near():
    samples = generate_samples(20, 7, kinds=("shapes",))
    for sample in samples:
        assert not near_palette(outside_objects(sample)).any(), sample.id
    assert sum(far_from_grey(outside_objects(s)) > 10 for s in samples) >= 16
    bare = generate_samples(20, 7, kinds=("shapes",), config=CorpusConfig(clutter=0))
    assert [far_from_grey(outside_objects(s)) for s in bare] == [0] * 20


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
