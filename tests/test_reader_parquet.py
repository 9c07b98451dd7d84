"""The parquet reader, on files written by pyarrow and datasets: the hub layout, Image
features with bytes and with paths, column mapping, splits, deterministic shards, bad input."""

from __future__ import annotations

import pytest
from reader_inputs import (
    by_key,
    hub_layout,
    image_bytes,
    read_all,
    read_input,
    write_with_datasets,
    write_with_pyarrow,
)

from vea_augment.data.readers import read_shard
from vea_augment.data.readers.tables import read_table_shard
from vea_augment.data.sources import plan_shards
from vea_augment.errors import ConfigError
from vea_augment.options import ColumnMapping


@pytest.fixture
def hub_folder(tmp_path):
    return tmp_path / "textvqa", hub_layout(tmp_path / "textvqa")


def test_every_row_of_a_hub_layout_folder_comes_out_with_its_image(hub_folder):
    folder, expected = hub_folder
    samples = by_key(read_input(str(folder), samples_per_shard=2))
    assert sorted(samples) == sorted(expected)
    for key, data in expected.items():
        sample = samples[key]
        assert sample.error is None, sample.error
        assert sample.image == data
        assert sample.image_ext == ("jpg" if data[:3] == b"\xff\xd8\xff" else "png")
        assert sample.record["id"] == key
        assert sample.record["question"].startswith("what is written on sign")
        assert sample.record["answers"][0] == f"word{key}"
        assert "image_id" in sample.record  # the other columns stay
    assert samples["100"].record["image"] == "images/img100.png"  # the path, never the bytes
    assert "image" not in samples["0"].record


def test_shard_n_holds_the_same_rows_on_every_planning(hub_folder):
    folder, _ = hub_folder
    first = plan_shards(str(folder), samples_per_shard=2)
    again = plan_shards(str(folder), samples_per_shard=2)
    assert first == again
    assert [(t.source.rsplit("/", 1)[1][:11], t.start, t.stop) for t in first] == [
        ("train-00000", 0, 2),
        ("train-00000", 2, 4),
        ("train-00000", 4, 5),
        ("train-00001", 0, 2),
        ("train-00001", 2, 4),
    ]
    assert [t.index for t in first] == list(range(5))
    for one, other in zip(first, again, strict=True):
        assert [s.key for s in read_shard(one)] == [s.key for s in read_shard(other)]
    assert [s.key for s in read_shard(first[3])] == ["100", "101"]


def test_row_ranges_across_small_row_groups_are_exact(tmp_path):
    rows = [{"question": f"q{i}", "image": image_bytes(8, 8, i), "id": f"r{i}"} for i in range(11)]
    write_with_pyarrow(tmp_path / "rows.parquet", rows, row_group_size=3)
    tasks = plan_shards(str(tmp_path / "rows.parquet"), samples_per_shard=4)
    assert [[s.key for s in read_shard(task)] for task in tasks] == [
        ["r0", "r1", "r2", "r3"],
        ["r4", "r5", "r6", "r7"],
        ["r8", "r9", "r10"],
    ]
    assert all(s.image_ext == "png" for s in read_all(tasks))
    for batch_rows in (1, 2, 5):  # batches that cut row groups anywhere
        assert [s.key for s in read_table_shard(tasks[1], batch_rows)] == ["r4", "r5", "r6", "r7"]


@pytest.mark.parametrize(
    ("columns", "id_of_first"),
    [
        ({"query": ["how many bars?"], "label": [["4"]]}, "chartqa-r0"),  # ChartQA
        ({"questionId": [7], "question": ["total?"], "answers": [["9"]]}, "7"),  # DocVQA, InfoVQA
    ],
)
def test_the_default_columns_fit_chartqa_docvqa_and_infovqa(tmp_path, columns, id_of_first):
    write_with_datasets(
        tmp_path / "chartqa.parquet",
        [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)],
        [{"bytes": image_bytes(10, 10, 1), "path": None}],
    )
    (sample,) = read_input(str(tmp_path / "chartqa.parquet"))
    assert sample.error is None and sample.key == id_of_first
    assert sample.record["question"] in ("how many bars?", "total?")
    assert sample.record["answers"] in (["4"], ["9"])


def test_the_column_options_map_other_names(tmp_path):
    rows = [{"uid": "a1", "prompt": "q?", "gold": "yes", "picture": image_bytes(9, 9, 2),
             "boxes": [[1.0, 1.0, 5.0, 5.0]]}]  # fmt: skip
    write_with_pyarrow(tmp_path / "custom.parquet", rows, row_group_size=10)
    mapping = ColumnMapping(
        question=("prompt",), answers=("gold",), image=("picture",), boxes=("boxes",), id=("uid",)
    )
    (sample,) = read_input(str(tmp_path / "custom.parquet"), columns=mapping)
    assert sample.error is None and sample.key == "a1"
    assert sample.record["answers"] == ["yes"]
    assert sample.record["evidence_boxes"] == [[1.0, 1.0, 5.0, 5.0]]


def test_a_parquet_without_the_mapped_columns_names_them_and_what_is_there(tmp_path):
    rows = [{"qid": 1, "text": "q?", "image": image_bytes(8, 8, 3)}]
    write_with_pyarrow(tmp_path / "odd.parquet", rows, row_group_size=10)
    with pytest.raises(ConfigError) as caught:
        plan_shards(str(tmp_path / "odd.parquet"))
    message = str(caught.value)
    assert "no question column (tried 'question', 'query'; set --question-field)" in message
    assert "columns present: qid, text, image" in message


def test_in_a_folder_a_table_without_the_columns_is_error_records_and_the_rest_is_intact(
    hub_folder,
):
    folder, expected = hub_folder
    rows = [{"qid": i, "text": "q?", "image": image_bytes(8, 8, i)} for i in range(3)]
    write_with_pyarrow(folder / "data" / "train-00002-of-00003.parquet", rows, 10)
    samples = read_input(str(folder))
    assert len(samples) == len(expected) + 3
    errors = [s for s in samples if s.error is not None]
    assert [s.key for s in errors] == [f"train-00002-of-00003-r{i}" for i in range(3)]
    assert all("no question column" in s.error and "qid, text, image" in s.error for s in errors)
    assert all(by_key(samples)[key].image == data for key, data in expected.items())


def test_a_row_without_an_image_is_an_error_record_and_the_others_are_intact(tmp_path):
    rows = [
        {"id": "fine", "question": "q?", "image": {"bytes": image_bytes(8, 8, 1), "path": None}},
        {"id": "null", "question": "q?", "image": None},
        {"id": "void", "question": "q?", "image": {"bytes": None, "path": None}},
        {"id": "gone", "question": "q?", "image": {"bytes": None, "path": "nowhere/x.png"}},
        {"id": "after", "question": "q?", "image": {"bytes": image_bytes(8, 8, 2), "path": None}},
    ]
    write_with_pyarrow(tmp_path / "holes.parquet", rows, row_group_size=2)
    samples = by_key(read_input(str(tmp_path / "holes.parquet")))
    assert list(samples) == ["fine", "null", "void", "gone", "after"]
    assert samples["fine"].error is None and samples["after"].error is None
    assert samples["null"].error == "the row has no image (column 'image' is empty)"
    assert "holds no bytes nor path" in samples["void"].error
    assert "cannot read image" in samples["gone"].error and "nowhere/x.png" in samples["gone"].error


def test_an_unreadable_parquet_in_a_folder_is_one_error_record_naming_it(hub_folder):
    folder, expected = hub_folder
    (folder / "data" / "train-00002-of-00003.parquet").write_bytes(b"PAR1 this is not parquet")
    samples = read_input(str(folder))
    broken = [s for s in samples if s.error is not None]
    assert len(samples) == len(expected) + 1 and len(broken) == 1
    assert "train-00002-of-00003.parquet" in broken[0].error
    assert broken[0].error.startswith("cannot read")
    assert "." not in broken[0].key and "/" not in broken[0].key  # a key the writer takes
    with pytest.raises(ConfigError, match="cannot read parquet file"):
        plan_shards(str(folder / "data" / "train-00002-of-00003.parquet"))


def test_splits_and_configurations_of_a_hub_layout_are_chosen_not_mixed(tmp_path):
    for config in ("DocVQA", "InfographicVQA"):
        for split in ("validation", "test"):
            write_with_datasets(
                tmp_path / config / f"{split}-00000-of-00001.parquet",
                [{"questionId": f"{config}-{split}", "question": "q?", "answers": ["a"]}],
                [{"bytes": image_bytes(8, 8, 0), "path": None}],
            )
    with pytest.raises(ConfigError, match=r"several configurations .*--hf-config"):
        plan_shards(str(tmp_path))
    with pytest.raises(ConfigError, match="splits test, validation: choose one with --split"):
        plan_shards(str(tmp_path), hf_config="InfographicVQA")
    with pytest.raises(ConfigError, match="no split 'train'; it has: test, validation"):
        plan_shards(str(tmp_path), hf_config="DocVQA", split="train")
    (sample,) = read_input(str(tmp_path), hf_config="InfographicVQA", split="validation")
    assert sample.key == "InfographicVQA-validation" and sample.error is None
    (sample,) = read_input(str(tmp_path / "DocVQA"), split="test")  # one config: no choice
    assert sample.key == "DocVQA-test"


def test_split_folders_and_a_lone_configuration_need_no_configuration_option(tmp_path):
    for path in ("byfolder/train/0000.parquet", "byfolder/test/0000.parquet",
                 "lone/default/train/0000.parquet", "lone/default/test/0000.parquet"):  # fmt: skip
        write_with_datasets(
            tmp_path / path,
            [{"id": path.replace("/", "_").removesuffix(".parquet"), "question": "q?"}],
            [{"bytes": image_bytes(8, 8, 0), "path": None}],
        )
    (sample,) = read_input(str(tmp_path / "byfolder"), split="test")
    assert sample.key == "byfolder_test_0000"
    (sample,) = read_input(str(tmp_path / "lone"), split="train")
    assert sample.key == "lone_default_train_0000"
    with pytest.raises(ConfigError, match="splits test, train"):
        plan_shards(str(tmp_path / "lone"))
