"""Data never reads outside: a record's image path must resolve inside the image root.

``/etc/hostname``, ``../outside.png`` and a symlink pointing out of the records file's folder
become error records naming the path and why; the other samples read as before, and
``--allow-external-images`` lifts the rule (recorded in the manifest like the other
InputOptions, and never granted by a manifest itself).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner
from synthetic_images import encoded, noise_image

from vea_augment.cli import common
from vea_augment.data.readers import read_shard
from vea_augment.data.sources import plan_input
from vea_augment.options import InputOptions

FLAG_HINT = "; --allow-external-images reads it"


def corpus(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """``records/`` with ``ok.png`` and ``sub/`` inside, ``outside.png`` beside it, a
    symlink ``records/link.png`` to it; returns the records folder and the image bytes."""
    root = tmp_path / "records"
    (root / "sub").mkdir(parents=True)
    images = {
        "ok": encoded(noise_image(8, 8, 0)),
        "deep": encoded(noise_image(8, 8, 1)),
        "outside": encoded(noise_image(8, 8, 2)),
    }
    (root / "ok.png").write_bytes(images["ok"])
    (root / "sub" / "deep.png").write_bytes(images["deep"])
    (tmp_path / "outside.png").write_bytes(images["outside"])
    (root / "link.png").symlink_to(tmp_path / "outside.png")
    (root / "inner-link.png").symlink_to(root / "sub" / "deep.png")
    return root, images


IMAGES = {
    "ok": "ok.png",
    "etc": "/etc/hostname",
    "climb": "../outside.png",
    "link": "link.png",
    "deep": "sub/../sub/deep.png",
    "inner": "inner-link.png",
}


def write_jsonl(root: Path) -> Path:
    path = root / "data.jsonl"
    lines = [
        json.dumps({"id": key, "question": "q?", "image": name}) for key, name in IMAGES.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def refusals(root: Path, tmp_path: Path) -> dict[str, str]:
    where = f"outside the image root {str(root)!r}"
    outside = str((tmp_path / "outside.png").resolve())
    return {
        "etc": f"image path '/etc/hostname' is absolute and {where}{FLAG_HINT}",
        "climb": f"image path '../outside.png' climbs out with '..' to {outside!r}, {where}"
        + FLAG_HINT,
        "link": f"image path 'link.png' is a symbolic link (or under one) to {outside!r}, {where}"
        + FLAG_HINT,
    }


def test_jsonl_images_outside_the_root_are_error_records_naming_the_path(tmp_path: Path) -> None:
    root, images = corpus(tmp_path)
    (task,) = plan_input(str(write_jsonl(root)), InputOptions())

    samples = {s.key: s for s in read_shard(task)}

    assert {key: s.error for key, s in samples.items() if s.error} == refusals(root, tmp_path)
    assert {key: s.image for key, s in samples.items() if not s.error} == {
        "ok": images["ok"],
        "deep": images["deep"],
        "inner": images["deep"],
    }
    assert all(samples[key].image is None for key in ("etc", "climb", "link"))


def test_allow_external_images_reads_them_all(tmp_path: Path) -> None:
    root, images = corpus(tmp_path)
    (task,) = plan_input(str(write_jsonl(root)), InputOptions(allow_external_images=True))

    samples = {s.key: s for s in read_shard(task)}

    assert {key: s.error for key, s in samples.items()} == dict.fromkeys(IMAGES)
    assert samples["climb"].image == samples["link"].image == images["outside"]
    assert samples["etc"].image == Path("/etc/hostname").read_bytes()


def test_an_image_root_moves_the_boundary(tmp_path: Path) -> None:
    root, _images = corpus(tmp_path)
    options = InputOptions(image_root=str(tmp_path))
    (task,) = plan_input(str(write_jsonl(root)), options)

    samples = {s.key: s for s in read_shard(task)}

    # relative to tmp_path now: ok.png is not there, ../outside.png leaves it
    assert samples["ok"].error is not None and "cannot read image" in samples["ok"].error
    assert samples["climb"].error is not None and "climbs out with '..'" in samples["climb"].error


def test_llava_json_list_images_stay_inside_the_root(tmp_path: Path) -> None:
    root, _images = corpus(tmp_path)
    turns = [{"from": "human", "value": "<image>\nWhat?"}, {"from": "gpt", "value": "x"}]
    records = [{"id": key, "image": name, "conversations": turns} for key, name in IMAGES.items()]
    (root / "llava.json").write_text(json.dumps(records))
    (task,) = plan_input(str(root / "llava.json"), InputOptions())

    samples = {s.key: s for s in read_shard(task)}

    assert task.kind == "llava_json"
    assert {key: s.error for key, s in samples.items() if s.error} == refusals(root, tmp_path)


def test_a_parquet_path_column_stays_inside_the_tables_folder(tmp_path: Path) -> None:
    root, images = corpus(tmp_path)
    table = pa.table(
        {
            "id": list(IMAGES),
            "question": ["q?"] * len(IMAGES),
            "image": list(IMAGES.values()),
        }
    )
    pq.write_table(table, root / "rows.parquet")
    (task,) = plan_input(str(root / "rows.parquet"), InputOptions())

    samples = {s.key: s for s in read_shard(task)}

    assert {key: s.error for key, s in samples.items() if s.error} == refusals(root, tmp_path)
    assert samples["ok"].image == images["ok"]


def test_the_flag_is_recorded_and_a_manifest_cannot_grant_it_itself(tmp_path: Path) -> None:
    root, _ = corpus(tmp_path)
    config = InputOptions(allow_external_images=True).to_config()
    assert config["allow_external_images"] is True
    assert InputOptions.from_config(config).allow_external_images is True
    assert InputOptions.from_config({"samples_per_shard": 5}).allow_external_images is False

    (task,) = plan_input(
        str(write_jsonl(root)), InputOptions.from_config(config), trusted=False, named_by="m"
    )

    errors = {s.key: s.error for s in read_shard(task) if s.error}
    assert errors == refusals(root, tmp_path)


def test_the_cli_option_fills_the_input_options() -> None:
    seen: list[InputOptions] = []

    @click.command()
    @common.input_reading_options
    def command(**values: object) -> None:
        seen.append(common.input_options(values))

    runner = CliRunner()
    assert runner.invoke(command, ["--allow-external-images"]).exit_code == 0
    assert runner.invoke(command, []).exit_code == 0
    assert [options.allow_external_images for options in seen] == [True, False]
