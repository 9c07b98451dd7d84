"""The new inputs through the real jobs: the CLI refuses what no reader takes before any
model loads, a hub-layout parquet folder is augmented row for row on a local Ray cluster
with the tiny VLM, and an input without samples is an error, not "0 samples"."""

from __future__ import annotations

import json
import tarfile

import pytest
import ray
import webdataset as wds
from click.testing import CliRunner
from reader_inputs import hub_layout, image_bytes
from tiny_jobs import tiny_augment_job

from vea_augment.cli import cli
from vea_augment.data.augmented import OriginalImages
from vea_augment.data.writer import MANIFEST_NAME
from vea_augment.errors import ConfigError
from vea_augment.jobs.augment import AugmentJob, run_augment_job
from vea_augment.options import InputOptions


def make_job(source: str, output, model_dir, **overrides) -> AugmentJob:
    return tiny_augment_job(
        source, output, model_dir, batch_size=3, max_pixels=1_000_000, num_actors=1, **overrides
    )


def test_augment_refuses_a_png_input_naming_it_before_any_model_loads(tmp_path, model_dir):
    png = tmp_path / "page.png"
    png.write_bytes(image_bytes(16, 16, 0))
    result = CliRunner().invoke(
        cli,
        ["augment", "--model", str(model_dir), "--layers", "1,2", "--input", str(png),
         "--output", str(tmp_path / "out"), "--no-progress"],
    )  # fmt: skip
    assert result.exit_code != 0
    assert str(png) in result.output and "first bytes look like a PNG image" in result.output
    assert not ray.is_initialized(), "the error must come before Ray or the model start"
    assert not (tmp_path / "out").exists()


def test_a_hub_layout_parquet_folder_is_augmented_row_for_row(local_ray, model_dir, tmp_path):
    source = tmp_path / "textvqa"
    expected = hub_layout(source)
    output = tmp_path / "out"
    summary = run_augment_job(
        make_job(str(source), output, model_dir, reading=InputOptions(samples_per_shard=3)), False
    )
    assert summary.shards_total == 4 and not summary.shards_failed
    assert summary.samples == len(expected) == summary.ok + summary.errors
    written: dict[str, dict] = {}
    for shard in sorted(output.glob("shard-*.tar")):
        with tarfile.open(shard) as archive:
            for member in archive.getmembers():
                if member.name.endswith(".json") and member.name.count(".") == 1:
                    key = member.name.split(".")[0]
                    assert key not in written
                    written[key] = json.loads(archive.extractfile(member).read())
    assert sorted(written) == sorted(expected)
    assert {key for key, record in written.items() if record["vea"]["status"] == "ok"} == set(
        expected
    )
    assert written["100"]["question"] == "what is written on sign 100?"
    manifest = json.loads((output / MANIFEST_NAME).read_text())
    assert manifest["config"]["input_format"] == "auto"
    assert manifest["config"]["columns"]["question"] == ["question", "query"]
    originals = OriginalImages(output / MANIFEST_NAME)  # re-planned from the manifest
    found = {}
    for number in range(summary.shards_total):
        images, problem = originals.shard(number)
        assert problem is None
        found.update({key: image.data for key, image in images.items()})
    assert found == expected


def test_an_input_that_plans_shards_but_holds_no_sample_is_an_error(local_ray, model_dir, tmp_path):
    with wds.TarWriter(str(tmp_path / "empty.tar")):
        pass
    with pytest.raises(ConfigError, match=r"empty.tar' yielded no samples"):
        run_augment_job(make_job(str(tmp_path / "empty.tar"), tmp_path / "out", model_dir), False)
