"""Format detection by content: what a file is, whatever its name says, and a ConfigError
naming the file and what it looks like when no reader takes it (never "0 samples")."""

from __future__ import annotations

import gzip
import json

import pytest
import webdataset as wds
from reader_inputs import image_bytes, read_input, textvqa_rows, write_with_pyarrow

from vea_augment.data.sniff import sniff_file
from vea_augment.data.sources import plan_shards
from vea_augment.errors import ConfigError
from vea_augment.steps.profile import collect_profile_samples


def test_inputs_are_recognised_by_their_content_not_their_name(tmp_path):
    (tmp_path / "img.png").write_bytes(image_bytes(8, 8, 0))
    record = {"id": "x", "question": "q?", "image": "img.png"}
    (tmp_path / "lines.txt").write_text(json.dumps(record) + "\n")
    (tmp_path / "list.txt").write_text(json.dumps([record]))
    rows = [{**textvqa_rows(1)[0], "image": image_bytes(8, 8, 1)}]
    write_with_pyarrow(tmp_path / "table.bin", rows, row_group_size=10)
    with wds.TarWriter(str(tmp_path / "shard.dat")) as sink:
        sink.write({"__key__": "z", "json": b'{"id": "z", "question": "q?"}', "png": b"png"})
    kinds = {name: plan_shards(str(tmp_path / name))[0].kind for name in
             ("lines.txt", "list.txt", "table.bin", "shard.dat")}  # fmt: skip
    assert kinds == {"lines.txt": "jsonl", "list.txt": "json_list", "table.bin": "parquet",
                     "shard.dat": "webdataset"}  # fmt: skip
    assert [s.key for s in read_input(str(tmp_path / "table.bin"))] == ["0"]


@pytest.mark.parametrize(
    ("content", "looks_like"),
    [
        (image_bytes(8, 8, 0), "first bytes look like a PNG image"),
        (image_bytes(8, 8, 0, "JPEG"), "first bytes look like a JPEG image"),
        (b"%PDF-1.7\n...", "first bytes look like a PDF document"),
        (b"", "it is empty"),
        (gzip.compress(b"hello there\n"), "gzip-compressed but not a tar archive"),
        (b'{\n  "questions": []\n}\n', "one JSON object, not a JSON list"),
        (b"id,question\n1,what?\n", "text starting 'id,question"),
        (bytes(range(200, 256)) * 4, "no known format"),
    ],
)
def test_a_file_no_reader_takes_is_a_config_error_naming_it_and_what_it_looks_like(
    tmp_path, content, looks_like
):
    path = tmp_path / "input.data"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        plan_shards(str(path))
    assert str(path) in str(caught.value)
    assert looks_like in str(caught.value)


def test_a_png_named_tar_is_a_png(tmp_path):
    (tmp_path / "shard-0.tar").write_bytes(image_bytes(8, 8, 0))
    assert sniff_file(tmp_path / "shard-0.tar").kind is None
    with pytest.raises(ConfigError, match=r"shard-0.tar.*PNG image"):
        plan_shards(str(tmp_path / "shard-0.tar"))
    with wds.TarWriter(str(tmp_path / "shard-1.tar")) as sink:
        sink.write({"__key__": "k", "json": b"{}", "png": b"png"})
    with pytest.raises(ConfigError, match=r"no reader takes .*shard-0.tar.*PNG image"):
        plan_shards(str(tmp_path / "shard-{0..1}.tar"))


def test_a_folder_no_reader_takes_says_what_it_holds(tmp_path):
    for i in range(3):
        (tmp_path / f"page{i}.png").write_bytes(image_bytes(8, 8, i))
    with pytest.raises(ConfigError, match=r"no reader takes folder .*among 3 files \(page0.png"):
        plan_shards(str(tmp_path))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="it is empty"):
        plan_shards(str(tmp_path / "empty"))


def test_an_input_without_samples_is_an_error_naming_it(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ConfigError, match=r"empty.jsonl': it is empty"):
        plan_shards(str(tmp_path / "empty.jsonl"))
    (tmp_path / "blank.jsonl").write_text("\n")
    with pytest.raises(ConfigError, match=r"blank.jsonl': it holds only whitespace"):
        plan_shards(str(tmp_path / "blank.jsonl"), input_format="jsonl")
    with wds.TarWriter(str(tmp_path / "empty.tar")):
        pass  # a valid tar with no member: planned, but it yields nothing
    assert len(plan_shards(str(tmp_path / "empty.tar"))) == 1
    with pytest.raises(ConfigError, match=r"empty.tar' yielded no samples"):
        collect_profile_samples(str(tmp_path / "empty.tar"))


def test_a_named_format_that_the_input_is_not_is_refused(tmp_path):
    (tmp_path / "d.jsonl").write_text(json.dumps({"id": "a", "question": "q", "image": "x.png"}))
    with pytest.raises(ConfigError, match=r"--input-format parquet, but .*d.jsonl.* is jsonl"):
        plan_shards(str(tmp_path / "d.jsonl"), input_format="parquet")
    assert plan_shards(str(tmp_path / "d.jsonl"), input_format="jsonl")[0].kind == "jsonl"
