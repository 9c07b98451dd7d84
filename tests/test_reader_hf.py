"""Hugging Face datasets: save_to_disk folders (read with pyarrow) and hub ids (through
``datasets.load_dataset``), tested on local files only."""

from __future__ import annotations

import datasets
import pytest
from reader_inputs import by_key, hub_layout, image_bytes, read_input, textvqa_rows

from vea_augment.data.sources import plan_shards
from vea_augment.data.tables import hub_dataset
from vea_augment.errors import ConfigError


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """datasets' cache in this test's folder, and no dataset loaded by an earlier test."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    hub_dataset.cache_clear()
    yield
    hub_dataset.cache_clear()


def dataset(count: int, first_id: int = 0) -> datasets.Dataset:
    rows = textvqa_rows(count, first_id)
    columns = {key: [row[key] for row in rows] for key in rows[0]}
    columns["image"] = [{"bytes": image_bytes(20, 10 + i, i), "path": None} for i in range(count)]
    return datasets.Dataset.from_dict(columns).cast_column("image", datasets.Image())


def test_a_save_to_disk_dataset_is_read_row_by_row_in_its_order(tmp_path):
    saved = dataset(7)
    saved.save_to_disk(str(tmp_path / "saved"), max_shard_size="1KB")
    tasks = plan_shards(str(tmp_path / "saved"), samples_per_shard=3)
    assert tasks == plan_shards(str(tmp_path / "saved"), samples_per_shard=3)
    samples = read_input(str(tmp_path / "saved"), samples_per_shard=3)
    assert [s.key for s in samples] == [str(i) for i in range(7)]
    assert all(s.error is None and s.image_ext == "png" for s in samples)
    originals = saved.cast_column("image", datasets.Image(decode=False))
    assert [s.image for s in samples] == [row["image"]["bytes"] for row in originals]
    assert samples[3].record["answers"] == ["word3", "word3", "other"]


def test_a_save_to_disk_dataset_dict_takes_the_split_asked_for(tmp_path):
    datasets.DatasetDict({"train": dataset(3), "test": dataset(2, 50)}).save_to_disk(
        str(tmp_path / "dict")
    )
    with pytest.raises(ConfigError, match="splits train, test: choose one with --split"):
        plan_shards(str(tmp_path / "dict"))
    with pytest.raises(ConfigError, match="no split 'dev'"):
        plan_shards(str(tmp_path / "dict"), split="dev")
    samples = read_input(str(tmp_path / "dict"), split="test")
    assert [s.key for s in samples] == ["50", "51"]


def test_a_local_folder_loads_through_datasets_load_dataset(tmp_path):
    expected = hub_layout(tmp_path / "textvqa")
    tasks = plan_shards(str(tmp_path / "textvqa"), samples_per_shard=4, input_format="hf")
    assert {t.kind for t in tasks} == {"hf"} and len(tasks) == 3
    assert tasks[0].split == "train"  # the only split there is
    samples = by_key(read_input(str(tmp_path / "textvqa"), samples_per_shard=4, input_format="hf"))
    assert sorted(samples) == sorted(expected)
    assert all(samples[key].image == data for key, data in expected.items())


def test_a_hub_id_is_loaded_with_load_dataset_and_its_split(tmp_path, monkeypatch):
    local = tmp_path / "textvqa"
    expected = hub_layout(local)
    calls = []
    real = datasets.load_dataset

    def offline_hub(path, name=None, split=None, **kwargs):
        calls.append((path, name, split))
        return real(str(local), name=name, split=split, **kwargs)

    monkeypatch.setattr(datasets, "load_dataset", offline_hub)
    samples = read_input("hf://datasets/lmms-lab/textvqa", split="train", samples_per_shard=5)
    assert calls == [("lmms-lab/textvqa", None, "train")]  # loaded once per process
    assert sorted(s.key for s in samples) == sorted(expected)
    tasks = plan_shards("hf://datasets/lmms-lab/textvqa", split="train", samples_per_shard=5)
    assert tasks[1].describe() == "lmms-lab/textvqa:train[rows 5:9]"


def test_hub_problems_are_config_errors_that_name_the_dataset(tmp_path, monkeypatch):
    def no_such_dataset(path, name=None, split=None, **kwargs):
        raise FileNotFoundError(f"Dataset '{path}' doesn't exist on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", no_such_dataset)
    with pytest.raises(ConfigError, match="cannot load split 'train' of 'nobody/nothing'"):
        plan_shards("hf://datasets/nobody/nothing", split="train")
    with pytest.raises(ConfigError, match="--hf-config"):
        plan_shards("hf://datasets/org/name/extra/parts", split="train")
