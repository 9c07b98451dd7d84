"""``vea-augment export`` end to end: a real augment output (tiny Qwen2-VL, local Ray, one
corrupt sample written as an error passthrough) exported in every format, loaded back with
``datasets`` the way training code loads it, every image opened from its path."""

from __future__ import annotations

import io
import json
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pytest
import webdataset as wds
from augmented_corpus import (
    BROKEN_KEY,
    SAMPLES,
    TEN_ANSWERS,
    TIED_ANSWERS,
    augment_corpus,
    write_input_shards,
)
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from method_helpers import PROPERTY
from PIL import Image

from vea_augment.cli import cli
from vea_augment.data.augmented import ShardSample
from vea_augment.data.export_formats import DATASET_INFO
from vea_augment.data.images import EncodedImage
from vea_augment.errors import ConfigError
from vea_augment.jobs.export import (
    EXPORT_REPORT,
    ExportJob,
    ExportSummary,
    run_export_job,
)
from vea_augment.method.references import answer_key, first_reference, most_frequent
from vea_augment.models.prompting import question_text
from vea_augment.steps.export import export_row

FORMATS = ("llava", "sharegpt", "sharegpt-messages", "parquet")
BY_KEY = {sample.key: sample for sample in SAMPLES}
MOST_FREQUENT = {
    "ten-answers": "stop",
    "tied": "blue",
    "photo": "a cat",
    "single": "hello",
    "second-shard": "3",
}


@dataclass(frozen=True)
class Corpus:
    augmented: Path
    originals: dict[str, bytes]
    highlighted: dict[str, bytes]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, model_dir, local_ray) -> Corpus:
    root = tmp_path_factory.mktemp("export-input")
    originals = write_input_shards(root)
    augmented = augment_corpus(root, model_dir)
    highlighted = {}
    for shard in sorted(augmented.glob("shard-*.tar")):
        for sample in wds.WebDataset(str(shard), shardshuffle=False):
            record = json.loads(sample["json"])
            if record["vea"]["status"] == "ok":
                highlighted[sample["__key__"]] = sample.get("png") or sample["jpg"]
    assert set(highlighted) == set(BY_KEY)
    return Corpus(augmented, originals, highlighted)


_EXPORTS: dict[tuple[str, ...], ExportSummary] = {}


def export(corpus: Corpus, tmp_path_factory, export_format: str, **options: str) -> ExportSummary:
    """The export of ``corpus`` with these options, run once per module."""
    name = (str(corpus.augmented), export_format, *(f"{k}={v}" for k, v in sorted(options.items())))
    if name not in _EXPORTS:
        output = tmp_path_factory.mktemp("-".join(name[1:]).replace("=", "_"))
        job = ExportJob(str(corpus.augmented), output, export_format, **options)
        _EXPORTS[name] = run_export_job(job, show_progress=False)
    return _EXPORTS[name]


@dataclass
class Row:
    id: str
    prompt: str
    """The human turn after its ``<image>`` lines (parquet: the ``prompt`` column)."""
    answer: str
    images: list[Image.Image]


def pixels(image: Image.Image | bytes) -> np.ndarray:
    opened = Image.open(io.BytesIO(image)) if isinstance(image, bytes) else image
    return np.asarray(opened.convert("RGB"))


def load_rows(summary: ExportSummary, tmp_path: Path) -> list[Row]:
    """Every row as training code reads it: ``datasets.load_dataset``, image paths resolved
    against the data file's folder and opened with PIL."""
    data = summary.files[0]
    cache = str(tmp_path / "hf-cache")
    fmt = summary.job.format
    builder = "parquet" if fmt == "parquet" else "json"
    loaded = datasets.load_dataset(builder, data_files=str(data), split="train", cache_dir=cache)
    rows = []
    for record in loaded:
        if fmt == "parquet":
            images = record["image"] if "image" in record else record["images"]
            images = images if isinstance(images, list) else [images]
            rows.append(Row(record["id"], record["prompt"], record["answer"], images))
            continue
        if fmt == "llava":
            paths = record["image"] if isinstance(record["image"], list) else [record["image"]]
            turns = [(turn["from"], turn["value"]) for turn in record["conversations"]]
            assert [who for who, _ in turns] == ["human", "gpt"]
        elif fmt == "sharegpt":
            paths = record["images"]
            turns = [(turn["from"], turn["value"]) for turn in record["conversations"]]
            assert [who for who, _ in turns] == ["human", "gpt"]
        else:
            paths = record["images"]
            turns = [(turn["role"], turn["content"]) for turn in record["messages"]]
            assert [who for who, _ in turns] == ["user", "assistant"]
        resolved = [data.parent / path for path in paths]
        assert not any(Path(path).is_absolute() for path in paths)
        assert all(file.is_file() for file in resolved)
        placeholders = "<image>\n" * len(paths)
        human = turns[0][1]
        assert human.startswith(placeholders) and human.count("<image>") == len(paths)
        images = [Image.open(file) for file in resolved]
        rows.append(Row(record["id"], human.removeprefix(placeholders), turns[1][1], images))
    return rows


def key_of(row: Row) -> str:
    return row.id.removeprefix("id-")


def assert_broken_left_out(summary: ExportSummary) -> None:
    assert [(item.key, item.shard) for item in summary.left_out] == [(BROKEN_KEY, 1)]
    assert summary.left_out[0].reason.startswith("no highlighted image: augment failed: decode")


@pytest.mark.parametrize("export_format", FORMATS)
def test_every_format_loads_with_datasets_and_every_image_opens_at_its_size(
    corpus, tmp_path_factory, tmp_path, export_format
):
    summary = export(corpus, tmp_path_factory, export_format)
    rows = load_rows(summary, tmp_path)
    assert [key_of(row) for row in rows] == list(BY_KEY)
    assert summary.exported == len(rows) == 5
    for row in rows:
        sample = BY_KEY[key_of(row)]
        (image,) = row.images
        assert image.size == sample.size
        assert np.array_equal(pixels(image), pixels(corpus.highlighted[sample.key]))
        assert row.prompt == question_text(sample.question, "vea")
        assert row.answer == MOST_FREQUENT[sample.key]
    assert_broken_left_out(summary)


@pytest.mark.parametrize("export_format", FORMATS)
def test_both_images_come_original_first_then_highlighted(
    corpus, tmp_path_factory, tmp_path, export_format
):
    summary = export(corpus, tmp_path_factory, export_format, image="both")
    rows = load_rows(summary, tmp_path)
    assert len(rows) == 5
    for row in rows:
        key = key_of(row)
        original, highlighted = row.images
        assert original.size == highlighted.size == BY_KEY[key].size
        assert np.array_equal(pixels(original), pixels(corpus.originals[key]))
        assert np.array_equal(pixels(highlighted), pixels(corpus.highlighted[key]))
        assert not np.array_equal(pixels(original), pixels(highlighted))
        assert row.prompt == question_text(BY_KEY[key].question, "vea")
    assert_broken_left_out(summary)


def test_image_files_are_named_after_the_key_and_originals_are_the_input_bytes(
    corpus, tmp_path_factory
):
    summary = export(corpus, tmp_path_factory, "llava", image="original")
    folder = summary.files[0].parent / "images"
    names = sorted(path.name for path in folder.iterdir())
    assert names == sorted(f"{s.key}.orig.{s.fmt}" for s in SAMPLES)
    for sample in SAMPLES:
        assert (folder / f"{sample.key}.orig.{sample.fmt}").read_bytes() == corpus.originals[
            sample.key
        ]
    both = export(corpus, tmp_path_factory, "sharegpt", image="both").files[0].parent
    assert {p.name for p in (both / "images").iterdir()} == {
        name for s in SAMPLES for name in (f"{s.key}.{s.fmt}", f"{s.key}.orig.{s.fmt}")
    }


def test_prompt_question_is_the_plain_question(corpus, tmp_path_factory, tmp_path):
    rows = load_rows(export(corpus, tmp_path_factory, "sharegpt", prompt="question"), tmp_path)
    assert [row.prompt for row in rows] == [s.question for s in SAMPLES]


def test_the_reference_is_the_mode_of_ten_answers_or_the_first(corpus, tmp_path_factory, tmp_path):
    frequent = load_rows(export(corpus, tmp_path_factory, "parquet"), tmp_path)
    assert {key_of(row): row.answer for row in frequent} == MOST_FREQUENT
    first = load_rows(export(corpus, tmp_path_factory, "llava", reference="first"), tmp_path)
    assert {key_of(row): row.answer for row in first} == {s.key: s.answers[0] for s in SAMPLES}

    def load_parquet(summary: ExportSummary) -> datasets.Dataset:
        data = str(summary.files[0])
        cache = str(tmp_path / "hf")
        return datasets.load_dataset("parquet", data_files=data, split="train", cache_dir=cache)

    table = load_parquet(export(corpus, tmp_path_factory, "parquet"))
    assert table[0]["answers"] == TEN_ANSWERS and table[1]["answers"] == TIED_ANSWERS
    assert isinstance(table.features["image"], datasets.Image)
    both = load_parquet(export(corpus, tmp_path_factory, "parquet", image="both"))
    assert isinstance(both.features["images"].feature, datasets.Image)


def test_the_failed_sample_is_named_with_its_reason_and_never_exported(corpus, tmp_path_factory):
    summary = export(corpus, tmp_path_factory, "llava", image="original")
    assert_broken_left_out(summary)  # even though only its original was asked for
    lines = summary.lines()
    assert lines[0].startswith("exported 5 of 6 sample(s) (llava, image original")
    assert "       1  no highlighted image: augment failed" in lines
    assert any(line.startswith("  error: broken (shard 1): no highlighted image") for line in lines)
    report = json.loads((summary.files[0].parent / EXPORT_REPORT).read_text())
    assert report["exported"] == 5 and report["images"] == ["original"]
    assert [item["key"] for item in report["left_out"]] == [BROKEN_KEY]
    exported = json.loads(summary.files[0].read_text())
    assert BROKEN_KEY not in json.dumps(exported)


def test_dataset_info_describes_both_sharegpt_files_for_llama_factory(corpus, tmp_path):
    for export_format in ("sharegpt", "sharegpt-messages"):
        job = ExportJob(input=str(corpus.augmented), output=tmp_path, format=export_format)
        run_export_job(job, show_progress=False)
    info = json.loads((tmp_path / DATASET_INFO).read_text())
    assert set(info) == {"vea_sharegpt", "vea_sharegpt_messages"}
    for entry in info.values():
        assert entry["formatting"] == "sharegpt"
        columns, tags = entry["columns"], entry["tags"]
        lines = (tmp_path / entry["file_name"]).read_text().splitlines()
        assert len(lines) == 5
        for record in map(json.loads, lines):
            turns = record[columns["messages"]]
            assert all(set(turn) == {tags["role_tag"], tags["content_tag"]} for turn in turns)
            assert [t[tags["role_tag"]] for t in turns] == [tags["user_tag"], tags["assistant_tag"]]
            user = turns[0][tags["content_tag"]]
            assert user.count("<image>") == len(record[columns["images"]]) == 1
            assert all((tmp_path / path).is_file() for path in record[columns["images"]])


def test_duplicate_keys_are_left_out_and_an_input_that_is_not_augmented_exports_nothing(
    corpus, tmp_path
):
    # A copy of shard 0 holds the same keys (a pattern naming one file twice is refused).
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(corpus.augmented / "shard-00000.tar", copy / "shard-00000.tar")
    shutil.copy(corpus.augmented / "shard-00000.tar", copy / "shard-00001.tar")
    twice = ExportJob(input=str(copy / "shard-0000{0,1}.tar"), output=tmp_path / "d")
    summary = run_export_job(twice, show_progress=False)
    assert summary.exported == 3
    assert Counter(item.reason for item in summary.left_out) == {
        "duplicate key: already exported from shard 0": 3
    }
    raw = ExportJob(input=str(corpus.augmented.parent / "in-00000.tar"), output=tmp_path / "r")
    nothing = r"no sample .* could be exported \(3 left out: 3 no highlighted image: not an augment"
    with pytest.raises(ConfigError, match=nothing):
        run_export_job(raw, show_progress=False)
    assert not (tmp_path / "r" / "llava.json").exists()
    assert list((tmp_path / "r").iterdir()) == []


def test_a_sample_without_a_reference_or_a_question_is_left_out_with_the_reason():
    image = EncodedImage(b"PNG", "png", "k")
    sample = ShardSample(key="k", id="k", shard=0, question="Q?", images={"highlighted": image})
    highlighted = ("highlighted",)
    assert export_row(sample, highlighted, "vea", "first") == "no reference answer in the record"
    sample.error = "the record has no question"
    assert export_row(sample, highlighted, "vea", "first") == "the record has no question"
    sample.error, sample.references = None, ["a"]
    sample.missing["original"] = "the augment input has no shard 0 any more"
    assert export_row(sample, ("original", "highlighted"), "vea", "first") == (
        "no original image: the augment input has no shard 0 any more"
    )
    row = export_row(sample, highlighted, "question", "first")
    assert row.images[0].file_name == "k.png" and row.prompt == "Q?" and row.answer == "a"


def test_the_command_lists_what_it_left_out_and_exits_1_without_skip_errors(corpus, tmp_path):
    arguments = ["export", "--input", str(corpus.augmented), "--output", str(tmp_path)]
    arguments += ["--format", "sharegpt-messages", "--image", "both", "--no-progress"]
    strict = CliRunner().invoke(cli, arguments)
    assert strict.exit_code == 1, strict.output
    assert "error: broken (shard 1): no highlighted image: augment failed: decode" in strict.output
    assert "Error: 1 sample(s) left out of the export (listed above); pass --skip-errors" in (
        strict.output
    )
    accepted = CliRunner().invoke(cli, [*arguments, "--skip-errors"])
    assert accepted.exit_code == 0, accepted.output
    assert accepted.output.startswith("exported 5 of 6 sample(s) (sharegpt-messages, image both")
    assert f"wrote {tmp_path / 'sharegpt-messages.jsonl'}" in accepted.output
    assert "left out 1 sample(s):" in accepted.output
    assert len((tmp_path / "sharegpt-messages.jsonl").read_text().splitlines()) == 5


def brute_force_mode(answers: list[str]) -> str:
    groups = [answer_key(a) for a in answers]
    best = max(groups, key=lambda g: (groups.count(g), -groups.index(g)))
    spellings = [a for a in answers if answer_key(a) == best]
    return max(spellings, key=lambda s: (spellings.count(s), -spellings.index(s)))


ANSWERS = st.lists(st.sampled_from(["a", "A", " a", "b", "B ", "c", "a b", "A  B"]), min_size=1)


@PROPERTY
@given(ANSWERS)
def test_most_frequent_is_the_mode_ties_to_the_first_seen(answers):
    chosen = most_frequent(answers)
    assert chosen == brute_force_mode(answers)
    assert chosen in answers
    counts = Counter(answer_key(a) for a in answers)
    assert counts[answer_key(chosen)] == max(counts.values())
    assert first_reference(answers) == answers[0]


@PROPERTY
@given(ANSWERS, st.integers(min_value=1, max_value=3))
def test_one_more_vote_for_an_answer_never_unseats_it(answers, extra):
    chosen = most_frequent(answers)
    assert answer_key(most_frequent([*answers, *[chosen] * extra])) == answer_key(chosen)
    with pytest.raises(ConfigError):
        most_frequent([])
