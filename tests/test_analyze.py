"""`vea-augment analyze` on a tiny real VLM: the per-layer RAPT and AUROC tables, the split by
answer correctness, and figures a person can read."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from synthetic_images import encoded, noise_image

from vea_augment.answering.methods import METHODS
from vea_augment.answering.transformers_backend import TransformersBackend
from vea_augment.cli import cli
from vea_augment.method.layer_profile import relative_attention_per_token, top_layers
from vea_augment.options import ModelOptions

QUESTION = "What is written in the box?"


@given(
    st.lists(st.floats(0.001, 1.0), min_size=4, max_size=30),
    st.integers(1, 3),
)
def test_rapt_of_sections_that_partition_the_prompt_averages_to_one(weights, cut):
    row = np.array(weights) / np.sum(weights)
    prompt = np.ones(row.size, dtype=bool)
    first = np.zeros(row.size, dtype=bool)
    first[:cut] = True
    shares = relative_attention_per_token(row, {"a": first, "b": ~first}, prompt)
    weighted = (cut * shares["a"] + (row.size - cut) * shares["b"]) / row.size
    assert weighted == pytest.approx(1.0, rel=1e-12)


def test_rapt_by_hand_and_padding_is_not_part_of_the_prompt():
    row = np.array([0.0, 0.1, 0.1, 0.6, 0.2])  # position 0 is left padding
    prompt = np.array([False, True, True, True, True])
    image = np.array([False, False, False, True, True])
    shares = relative_attention_per_token(row, {"image": image, "text": prompt & ~image}, prompt)
    assert shares["image"] == pytest.approx(0.4 / 0.25)
    assert shares["text"] == pytest.approx(0.1 / 0.25)
    empty = relative_attention_per_token(row, {"none": np.zeros(5, bool)}, prompt)
    assert math.isnan(empty["none"])


def test_top_layers_ranks_undefined_last_and_prefers_shallow_on_ties():
    assert top_layers({0: 0.7, 1: None, 2: 0.9, 3: 0.7, 4: math.nan}, 0.4) == [0, 2]
    assert top_layers({0: 0.5, 1: 0.5, 2: 0.5}, 0.1) == [0]


@pytest.fixture(scope="module")
def analysis_input(tmp_path_factory, model_dir) -> str:
    """Four samples with boxes (two whose reference is the model's own greedy answer, so
    they count as right), one without boxes and one corrupt image."""
    backend = TransformersBackend.load(str(model_dir), ModelOptions(dtype="float32"))
    root = tmp_path_factory.mktemp("analyze-input")
    with wds.TarWriter(str(root / "a-00000.tar")) as sink:
        for index in range(5):
            image = noise_image(48 + 8 * index, 56, index)
            data = encoded(image)
            (outcome,) = backend.answer_decoded([METHODS["base"].text(QUESTION)], [[image]])
            answers = [outcome.answer] if index < 2 else ["certainly not this"]
            record = {"id": f"s{index}", "question": QUESTION, "answers": answers}
            if index < 4:
                record["evidence_boxes"] = [[4, 4, 30, 30]]
            sink.write({"__key__": f"s{index}", "json": record, "png": data})
        broken = {"id": "broken", "question": QUESTION, "answers": ["x"]}
        sink.write({"__key__": "broken", "json": broken, "png": b"not an image"})
    return str(root / "a-00000.tar")


@pytest.fixture(scope="module")
def analysis_dir(analysis_input, model_dir, tmp_path_factory) -> tuple[Path, str]:
    output = tmp_path_factory.mktemp("analysis")
    result = CliRunner().invoke(
        cli,
        [
            "analyze", "--model", str(model_dir), "--input", analysis_input, "--output",
            str(output), "--top-frac", "0.5", "--batch-size", "3", "--dtype", "float32",
            "--device", "cpu", "--no-progress",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return output, result.output


def test_analyze_writes_a_per_layer_table_split_by_correctness(analysis_dir):
    output, printed = analysis_dir
    assert "5 samples analysed (2 answered right), 1 excluded" in printed
    summary = json.loads((output / "analysis.json").read_text())
    assert summary["num_layers"] == 4 and summary["n_correct"] == 2
    assert [item["id"] for item in summary["excluded"]] == ["broken"]
    table = summary["layers"]
    assert [row["layer"] for row in table] == [0, 1, 2, 3]
    aurocs = [row["auroc_all"] for row in table]
    best_two = sorted(sorted(range(4), key=lambda layer: (-aurocs[layer], layer))[:2])
    assert summary["chosen_layers"] == best_two
    samples = {sample["id"]: sample for sample in summary["samples"]}
    assert [samples[f"s{i}"]["correct"] for i in range(5)] == [True, True, False, False, False]
    assert samples["s4"]["auroc"] == [None] * 4  # no boxes: no evidence ranking
    assert samples["s4"]["rapt"]["evidence"] == [None] * 4
    assert set(summary["sections"]) == {"question", "text", "image", "evidence", "non_evidence"}
    question_tokens = len(QUESTION.split()) * 2  # the tiny tokenizer: word, space, ..., "?"
    for sample in summary["samples"]:
        tokens = sample["tokens"]
        assert tokens["text"] + tokens["image"] == tokens["prompt"]
        # The paper's text section is the question alone, inside the wider non-image text.
        assert tokens["question"] == question_tokens < tokens["text"]
        assert all(value is not None for value in sample["rapt"]["question"])
        for layer in range(4):
            # Text and image partition the prompt: their per-token shares average to 1.
            text, image = sample["rapt"]["text"][layer], sample["rapt"]["image"][layer]
            total = (tokens["text"] * text + tokens["image"] * image) / tokens["prompt"]
            assert total == pytest.approx(1.0, rel=1e-9)
            if sample["auroc"][layer] is not None:
                evidence = sample["rapt"]["evidence"][layer]
                rest = sample["rapt"]["non_evidence"][layer]
                mixed = tokens["evidence"] * evidence + tokens["non_evidence"] * rest
                assert mixed / tokens["image"] == pytest.approx(image, rel=1e-9)
    right = [samples["s0"], samples["s1"]]
    expected = np.mean([s["rapt"]["image"][2] for s in right])
    assert table[2]["rapt_image_correct"] == pytest.approx(expected, rel=1e-12)
    with (output / "layers.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 and float(rows[1]["auroc_all"]) == pytest.approx(table[1]["auroc_all"])
    for split in ("all", "correct", "incorrect"):
        assert {f"rapt_question_{split}", f"rapt_text_{split}"} <= set(rows[0])
    assert float(rows[2]["rapt_question_all"]) == pytest.approx(table[2]["rapt_question_all"])


@pytest.mark.parametrize(
    "name", ["rapt_by_layer", "evidence_by_layer", "auroc_by_layer", "contact_sheet"]
)
def test_the_figures_are_readable_pngs(analysis_dir, name):
    output, printed = analysis_dir
    path = output / f"{name}.png"
    assert f"wrote {path}" in printed
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width >= 800 and image.height >= 400
        pixels = np.asarray(image.convert("RGB"))
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 50, "a blank or nearly blank figure"
    assert (pixels < 100).mean() > 0.002, "no dark ink (axes, labels, text) on the figure"


def test_the_right_wrong_split_follows_the_chosen_protocol(tmp_path, model_dir):
    """A reference contained in a longer answer is right under the paper's EM (qa-metrics
    containment) and wrong under strict EM; analysis.json names the protocol it used."""
    backend = TransformersBackend.load(str(model_dir), ModelOptions(dtype="float32"))
    image = noise_image(48, 56, 7)
    (outcome,) = backend.answer_decoded([METHODS["base"].text(QUESTION)], [[image]])
    answer = outcome.answer.strip()
    assert len(answer) > 1
    part = answer[: len(answer) // 2].strip()  # contained in the answer, not equal to it
    record = {"id": "contained", "question": QUESTION, "answers": [part]}
    source = tmp_path / "one.tar"
    with wds.TarWriter(str(source)) as sink:
        sink.write({"__key__": "contained", "json": record, "png": encoded(image)})
    verdicts = {}
    for protocol in ("paper", "strict"):
        output = tmp_path / protocol
        result = CliRunner().invoke(
            cli,
            [
                "analyze", "--model", str(model_dir), "--input", str(source), "--output",
                str(output), "--layers", "1", "--dtype", "float32", "--device", "cpu",
                "--no-progress", "--protocol", protocol,
            ],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        summary = json.loads((output / "analysis.json").read_text())
        assert summary["protocol"] == protocol
        assert summary["right_means"] == f"full credit on {protocol}.exact_match"
        verdicts[protocol] = summary["samples"][0]["correct"]
    assert verdicts == {"paper": True, "strict": False}
