"""Input corpora written by the real libraries (pyarrow, datasets, tarfile, json), for the
reader tests: the hub's parquet layout, save_to_disk folders, gzip tars, the paper release's
``metadata.json`` and LLaVA conversations. Images are seeded noise of stated sizes."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from synthetic_images import encoded, noise_image

from vea_augment.data.readers import RawSample, read_shard
from vea_augment.data.sources import ShardTask, plan_shards


def image_bytes(width: int, height: int, seed: int, fmt: str = "PNG") -> bytes:
    return encoded(noise_image(width, height, seed), fmt)


def textvqa_rows(count: int, first_id: int = 0) -> list[dict[str, Any]]:
    """TextVQA as the hub stores it: question_id, question, answers (a list), image_id."""
    return [
        {
            "question_id": first_id + i,
            "question": f"what is written on sign {first_id + i}?",
            "answers": [f"word{first_id + i}", f"word{first_id + i}", "other"],
            "image_id": f"img{first_id + i}",
        }
        for i in range(count)
    ]


def write_with_datasets(path: Path, rows: list[dict[str, Any]], images: list[Any]) -> None:
    """A parquet file as ``datasets`` writes it, with an ``Image`` feature (bytes or paths)."""
    import datasets

    columns = {key: [row[key] for row in rows] for key in rows[0]} | {"image": images}
    table = datasets.Dataset.from_dict(columns).cast_column("image", datasets.Image())
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(str(path))


def write_with_pyarrow(path: Path, rows: list[dict[str, Any]], row_group_size: int) -> None:
    """A parquet file written by pyarrow with small row groups."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=row_group_size)


def hub_layout(root: Path) -> dict[str, bytes]:
    """``root/data/train-0000{0,1}-of-00002.parquet``: five rows whose ``Image`` feature holds
    bytes (PNG and JPEG) and four whose feature holds paths to ``root/images/*.png``, written
    by ``datasets``. Returns each sample id's image bytes."""
    expected: dict[str, bytes] = {}
    rows = textvqa_rows(5)
    images = []
    for i, row in enumerate(rows):
        data = image_bytes(40 + i, 30, i, "PNG" if i % 2 == 0 else "JPEG")
        images.append({"bytes": data, "path": None})
        expected[str(row["question_id"])] = data
    write_with_datasets(root / "data" / "train-00000-of-00002.parquet", rows, images)
    rows, paths = textvqa_rows(4, first_id=100), []
    (root / "images").mkdir(parents=True, exist_ok=True)
    for i, row in enumerate(rows):
        data = image_bytes(32, 24 + i, 50 + i)
        (root / "images" / f"{row['image_id']}.png").write_bytes(data)
        paths.append(f"images/{row['image_id']}.png")
        expected[str(row["question_id"])] = data
    before = Path.cwd()
    os.chdir(root)  # datasets measures the files the paths name, from the working folder
    try:
        write_with_datasets(root / "data" / "train-00001-of-00002.parquet", rows, paths)
    finally:
        os.chdir(before)
    return expected


def write_gzip_tar(path: Path, samples: list[dict[str, bytes]]) -> None:
    """A ``.tar.gz`` of WebDataset samples (``{"__key__": k, ext: bytes}``), by tarfile."""
    with tarfile.open(path, "w:gz") as archive:
        for sample in samples:
            for extension, data in sample.items():
                if extension == "__key__":
                    continue
                info = tarfile.TarInfo(f"{sample['__key__']}.{extension}")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data)


def release_metadata(root: Path, sizes: list[tuple[int, int]]) -> Path:
    """The paper release's ``data/textvqa/metadata.json``: a JSON list of records with
    question, answer, image, width, height and bboxs, images generated at those sizes."""
    folder = root / "data" / "textvqa"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    records = []
    for i, (width, height) in enumerate(sizes):
        name = f"images/{i:04d}_é.jpg" if i == 1 else f"images/{i:04d}.jpg"
        (folder / name).write_bytes(image_bytes(width, height, 200 + i, "JPEG"))
        records.append(
            {
                "question": f"what is the number {i}?",
                "answer": str(i),
                "image": name,
                "width": width,
                "height": height,
                "bboxs": [[1, 2, width // 2, height // 2]],
            }
        )
    path = folder / "metadata.json"
    path.write_text(json.dumps(records, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def llava_records(root: Path, count: int) -> list[dict[str, Any]]:
    """LLaVA/ShareGPT records with images in ``root/coco``."""
    (root / "coco").mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(count):
        name = f"coco/{i:012d}.jpg"
        (root / name).write_bytes(image_bytes(36, 28, 300 + i, "JPEG"))
        question = f"What colour is object {i}?"
        records.append(
            {
                "id": f"{i:012d}",
                "image": name,
                "conversations": [
                    {"from": "human", "value": f"<image>\n{question}"},
                    {"from": "gpt", "value": f"colour {i}"},
                    {"from": "human", "value": "And the shape?"},
                    {"from": "gpt", "value": "round"},
                ],
            }
        )
    return records


def read_all(tasks: list[ShardTask]) -> list[RawSample]:
    return [sample for task in tasks for sample in read_shard(task)]


def read_input(source: str, **planning: Any) -> list[RawSample]:
    """Every sample of ``source``, planned with ``planning``."""
    return read_all(plan_shards(source, **planning))


def by_key(samples: list[RawSample]) -> dict[str, RawSample]:
    keyed = {sample.key: sample for sample in samples}
    assert len(keyed) == len(samples), "keys must be unique"
    return keyed
