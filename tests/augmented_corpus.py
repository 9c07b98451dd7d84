"""A small real augment output for the tests that read augmented shards back (export): two
input tar shards, one JPEG, one sample with TextVQA's ten answers, one with a tie, one with a
single answer, and one corrupt image that augment writes as an error passthrough."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import webdataset as wds
from synthetic_images import encoded, noise_image

TEN_ANSWERS = ["sign", "STOP", "stop", "sign", " Stop ", "stop", "exit", "stop", "sign", "s"]
"""Ten annotators: ``stop`` (any case and spacing, most often spelt ``stop``) five times
beats ``sign`` three times."""
TIED_ANSWERS = ["blue", "red", "red", "blue"]
"""A tie: the answer seen first wins."""


@dataclass(frozen=True)
class InputSample:
    key: str
    question: str
    answers: list[str]
    size: tuple[int, int]
    fmt: str = "png"


SAMPLES = [
    InputSample("ten-answers", "What does the sign say?", TEN_ANSWERS, (56, 40)),
    InputSample("tied", "Which colour is the box?", TIED_ANSWERS, (48, 64)),
    InputSample("photo", "What is in the photo?", ["a cat"], (64, 48), "jpg"),
    InputSample("single", "What is written?", ["hello"], (40, 40)),
    InputSample("second-shard", "How many boxes?", ["3", "three"], (72, 32)),
]
BROKEN_KEY = "broken"
SHARDS = (SAMPLES[:3], SAMPLES[3:])


def input_bytes(sample: InputSample, seed: int) -> bytes:
    image = noise_image(*sample.size, seed)
    return encoded(image, "JPEG", quality=90) if sample.fmt == "jpg" else encoded(image)


def write_input_shards(root: Path) -> dict[str, bytes]:
    """Write ``in-00000.tar`` and ``in-00001.tar`` (the second ends with the corrupt sample);
    returns every good sample's image bytes by key."""
    originals: dict[str, bytes] = {}
    seed = 0
    for number, chunk in enumerate(SHARDS):
        with wds.TarWriter(str(root / f"in-{number:05d}.tar")) as sink:
            for sample in chunk:
                record = {
                    "id": f"id-{sample.key}",
                    "question": sample.question,
                    "answers": sample.answers,
                    "dataset": "textvqa",
                }
                originals[sample.key] = input_bytes(sample, seed)
                sink.write(
                    {"__key__": sample.key, "json": record, sample.fmt: originals[sample.key]}
                )
                seed += 1
            if number == 1:
                broken = {"id": "id-broken", "question": "What is it?", "answers": ["x"]}
                sink.write({"__key__": BROKEN_KEY, "json": broken, "png": b"not a png"})
    return originals


def augment_corpus(root: Path, model_dir: Path) -> Path:
    """Augment the two input shards with the tiny model (local Ray must be up); the output."""
    from tiny_jobs import tiny_augment_job

    from vea_augment.jobs.augment import run_augment_job

    output = root / "augmented"
    summary = run_augment_job(
        tiny_augment_job(str(root / "in-{00000..00001}.tar"), output, model_dir),
        show_progress=False,
    )
    assert summary.ok == len(SAMPLES) and summary.errors == 1
    return output
