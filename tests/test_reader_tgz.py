"""gzip-compressed WebDataset shards (.tar.gz, .tgz), written by tarfile, read like tars."""

from __future__ import annotations

import json

from reader_inputs import image_bytes, read_input, write_gzip_tar

from vea_augment.data.sources import plan_shards


def samples(prefix: str, count: int) -> list[dict[str, bytes]]:
    return [
        {
            "__key__": f"{prefix}{i}",
            "json": json.dumps({"id": f"{prefix}{i}", "question": "q?", "answers": ["a"]}).encode(),
            "png": image_bytes(12, 10, i),
        }
        for i in range(count)
    ]


def test_gzip_tars_are_read_like_tars_in_order(tmp_path):
    write_gzip_tar(tmp_path / "in-0.tar.gz", samples("a", 3))
    write_gzip_tar(tmp_path / "in-1.tgz", samples("b", 2))
    braces = f"{tmp_path}/in-{{0.tar.gz,1.tgz}}"
    for source in (str(tmp_path), braces, str(tmp_path / "in-0.tar.gz")):
        assert {t.kind for t in plan_shards(source)} == {"webdataset"}
    read = read_input(str(tmp_path))
    assert [s.key for s in read] == ["a0", "a1", "a2", "b0", "b1"]
    assert all(s.error is None and s.image == image_bytes(12, 10, int(s.key[1])) for s in read)


def test_a_gzip_tar_without_an_extension_is_recognised_by_its_content(tmp_path):
    write_gzip_tar(tmp_path / "shard", samples("c", 2))
    assert [s.key for s in read_input(str(tmp_path / "shard"))] == ["c0", "c1"]


def test_a_truncated_gzip_tar_ends_with_an_error_and_keeps_what_came_before(tmp_path):
    big = samples("d", 3)
    for sample in big:
        sample["png"] = image_bytes(200, 200, 7)  # noise: gzip cannot shrink it
    write_gzip_tar(tmp_path / "cut.tar.gz", big)
    data = (tmp_path / "cut.tar.gz").read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(data[: len(data) * 3 // 4])
    read = read_input(str(tmp_path / "cut.tar.gz"))
    assert [s.key for s in read[:2]] == ["d0", "d1"] and read[0].error is None
    assert read[-1].error is not None and "truncated" in read[-1].error
