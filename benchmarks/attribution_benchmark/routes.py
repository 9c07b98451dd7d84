"""The routes: what one timed run of each compared way of getting attention maps does.

Each route is a context manager taking a ``Bench`` and an image side and yielding a
``Workload``; the first line of its docstring is its description in the rendered section.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import webdataset as wds
from PIL import Image

from vea_augment.attribution.attributor import Attributor
from vea_augment.data.sources import ShardTask
from vea_augment.steps.augment import AugmentSettings, augment_shard

QUESTIONS = (
    "What is written on the sign?",
    "Which shop is open?",
    "What colour is the box on the left of the picture?",
    "How many digits are there?",
)


def synthetic_image(size: int, seed: int) -> Image.Image:
    """A deterministic smooth colour field, ``size`` × ``size`` (compresses like a photo)."""
    coarse = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    return Image.fromarray(coarse).resize((size, size), Image.BILINEAR)


@dataclass
class Bench:
    """One loaded model with its Attributor, and the batch shapes of the routes."""

    attributor: Attributor
    batch: int
    pipeline_samples: int
    workdir: Path

    @property
    def model(self) -> Any:
        """The model the Attributor wraps (the same weights in every route)."""
        return self.attributor.model

    def inputs(self, size: int, count: int) -> tuple[list[Image.Image], list[str]]:
        """``count`` distinct images of side ``size`` and their questions (same every run)."""
        images = [synthetic_image(size, seed) for seed in range(count)]
        return images, [QUESTIONS[i % len(QUESTIONS)] for i in range(count)]

    def prefill(self, images: list[Image.Image], questions: list[str], **options: Any) -> Any:
        """A full forward pass over the encoded batch, logits of the last position only."""
        inputs = self.attributor.encode(images, self.attributor.prompts(questions))
        with torch.inference_mode():
            return self.model(**inputs, use_cache=False, logits_to_keep=1, **options)

    def token_counts(self, size: int) -> tuple[int, int]:
        """(image tokens, sequence length) of one sample of side ``size``."""
        images, questions = self.inputs(size, 1)
        inputs = self.attributor.encode(images, self.attributor.prompts(questions))
        layouts = self.attributor.adapter.layouts(inputs, 0, images[0].size)
        return sum(layout.positions.size for layout in layouts), int(inputs["input_ids"].shape[1])


@dataclass
class Workload:
    """What one timed run does, and how many samples it handles."""

    run: Callable[[], object]
    samples: int
    count_flops: bool = False


@contextmanager
def attention_kernels(model: Any, **kernels: str) -> Iterator[None]:
    """Switch sub-model kernels (``text="eager"``, ``vision="sdpa"``) for a block, then restore."""
    configs = {f"{part}_config": getattr(model.config, f"{part}_config") for part in kernels}
    before = {name: config._attn_implementation for name, config in configs.items()}
    model.set_attn_implementation({f"{part}_config": kernel for part, kernel in kernels.items()})
    try:
        yield
    finally:
        model.set_attn_implementation(before)


@contextmanager
def eager_route(bench: Bench, size: int) -> Iterator[Workload]:
    """The paper's route: eager attention, `output_attentions=True`, full forward, batch 1."""
    images, questions = bench.inputs(size, 1)

    def run() -> None:
        attentions = bench.prefill(images, questions, output_attentions=True).attentions
        if not attentions or len(attentions) != bench.attributor.num_layers:
            raise RuntimeError("output_attentions returned no attention maps")

    with attention_kernels(bench.model, text="eager", vision="eager"):
        yield Workload(run, 1)


@contextmanager
def sdpa_route(bench: Bench, size: int) -> Iterator[Workload]:
    """A plain prefill with the model's normal kernel (SDPA), full forward, batch 1."""
    images, questions = bench.inputs(size, 1)
    with attention_kernels(bench.model, text="sdpa"):
        yield Workload(lambda: bench.prefill(images, questions), 1)


@contextmanager
def attribution_route(bench: Bench, size: int) -> Iterator[Workload]:
    """`Attributor.attribute_batch` at the chosen layers (capture + early exit), batch 1."""
    images, questions = bench.inputs(size, 1)
    yield Workload(lambda: bench.attributor.attribute_batch(images, questions), 1)


@contextmanager
def attribution_batched_route(bench: Bench, size: int) -> Iterator[Workload]:
    """`Attributor.attribute_batch` over `--batch` images in one pass."""
    images, questions = bench.inputs(size, bench.batch)
    yield Workload(
        lambda: bench.attributor.attribute_batch(images, questions), bench.batch, count_flops=True
    )


@contextmanager
def attribution_stream_route(bench: Bench, size: int) -> Iterator[Workload]:
    """Attribution alone over the pipeline's `--pipeline-samples` images, `--batch` per pass."""
    images, questions = bench.inputs(size, bench.pipeline_samples)

    def run() -> None:
        for start in range(0, len(images), bench.batch):
            stop = start + bench.batch
            bench.attributor.attribute_batch(images[start:stop], questions[start:stop])

    yield Workload(run, len(images))


@contextmanager
def pipeline_route(bench: Bench, size: int) -> Iterator[Workload]:
    """`augment_shard`: the same images as JPEGs in a WebDataset tar to a written shard."""
    images, questions = bench.inputs(size, bench.pipeline_samples)
    with tempfile.TemporaryDirectory(dir=bench.workdir) as scratch:
        tar = Path(scratch) / "input-00000.tar"
        with wds.TarWriter(str(tar)) as sink:
            for index, (image, question) in enumerate(zip(images, questions, strict=True)):
                jpeg = io.BytesIO()
                image.save(jpeg, format="JPEG", quality=90)
                record = {"id": f"s{index}", "question": question, "answers": ["open"]}
                sink.write({"__key__": f"s{index:05d}", "jpg": jpeg.getvalue(), "json": record})
        task = ShardTask(0, "webdataset", str(tar))
        settings = AugmentSettings(batch_size=bench.batch)

        def run() -> None:
            output = Path(tempfile.mkdtemp(dir=scratch))
            stats = augment_shard(task, bench.attributor, settings, output)
            if stats.ok != len(images):
                raise RuntimeError(f"the pipeline failed samples: {stats.failures}")

        yield Workload(run, len(images))


@contextmanager
def preprocess_route(bench: Bench, size: int) -> Iterator[Workload]:
    """The processor alone (prompt + image to tensors on the device), batch 1: in every route."""
    images, questions = bench.inputs(size, 1)
    prompts = bench.attributor.prompts(questions)
    yield Workload(lambda: bench.attributor.encode(images, prompts), 1)


ROUTES: dict[str, Callable[[Bench, int], AbstractContextManager[Workload]]] = {
    "eager": eager_route,
    "sdpa": sdpa_route,
    "attribution": attribution_route,
    "attribution_batched": attribution_batched_route,
    "attribution_stream": attribution_stream_route,
    "pipeline": pipeline_route,
    "preprocess": preprocess_route,
}
