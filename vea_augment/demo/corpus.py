"""A synthetic evidence-VQA corpus with exact ground-truth boxes, deterministic from a seed.

Two kinds of image, both on a grid of cells the size of one vision token (28 px for the
bundled Qwen2-VL model), each holding at most one object:

* ``shapes``: coloured shapes on a noisy background; "what colour is the triangle?" or
  "which shape is blue?";
* ``digits``: a page of coloured boxes with a digit in each; "which digit is in the red
  box?" or "what colour is the box with the digit 7?".

Every question is answered by exactly one object, whose bounding box is the evidence. An
optional degradation (noise, blur, patch masking) reproduces the paper's robustness
experiment. Samples are written in the input contract: WebDataset shards or JSONL + PNGs.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import webdataset as wds
from PIL import Image, ImageDraw, ImageFilter, ImageFont

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 40, 40),
    "green": (40, 160, 60),
    "blue": (40, 80, 215),
    "yellow": (225, 195, 30),
    "purple": (140, 60, 180),
    "orange": (235, 130, 30),
}
SHAPES = ("square", "circle", "triangle", "diamond")
DIGITS = tuple(str(d) for d in range(10))
Kind = Literal["shapes", "digits"]
Degradation = Literal["noise", "blur", "mask"]
DEGRADATIONS: tuple[Degradation, ...] = ("noise", "blur", "mask")
#: Words the questions and answers use (the bundled model's tokenizer has one token each).
VOCABULARY = (*COLOURS, *SHAPES, "shape", "digit", "box", "with", "colour", "what", "which")


@dataclass(frozen=True)
class CorpusConfig:
    """Geometry of the generated images."""

    cell: int = 28
    grid: int = 4
    objects: int = 3

    @property
    def size(self) -> int:
        return self.cell * self.grid

    def cell_of(self, box: Sequence[float]) -> int:
        """Row-major index of the cell holding ``box`` (an object never crosses cells)."""
        x0, y0, x1, y1 = box
        row, column = int((y0 + y1) / 2 // self.cell), int((x0 + x1) / 2 // self.cell)
        return row * self.grid + column


@dataclass
class SyntheticSample:
    """One generated sample in the input contract, with its image."""

    id: str
    image: Image.Image
    question: str
    answers: list[str]
    evidence_boxes: list[list[float]]
    dataset: str
    kind: Kind
    objects: list[dict[str, object]] = field(default_factory=list)

    def record(self) -> dict[str, object]:
        """The input-contract record (without the image)."""
        return {
            "id": self.id,
            "question": self.question,
            "answers": self.answers,
            "evidence_boxes": self.evidence_boxes,
            "dataset": self.dataset,
            "kind": self.kind,
        }


#: A neutral grey near the CLIP pixel mean: after the processor's normalisation the background
#: is close to zero, so a small model's image tokens carry the objects, not the backdrop.
BACKGROUND_GREY = 120


def _background(rng: np.random.Generator, config: CorpusConfig, kind: Kind) -> Image.Image:
    spread = 4 if kind == "digits" else 10
    pixels = rng.normal(BACKGROUND_GREY, spread, (config.size, config.size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, box: list[float], fill: tuple) -> None:
    x0, y0, x1, y1 = box
    if shape == "square":
        draw.rectangle(box, fill=fill)
    elif shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "triangle":
        draw.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=fill)
    else:
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        draw.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=fill)


def _draw_digit_box(
    draw: ImageDraw.ImageDraw,
    digit: str,
    box: list[float],
    colour: tuple,
    font: ImageFont.ImageFont,
) -> None:
    tint = tuple(int(255 - 0.35 * (255 - c)) for c in colour)
    draw.rectangle(box, fill=tint, outline=colour, width=3)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    draw.text((cx, cy), digit, fill=(15, 15, 15), font=font, anchor="mm")


def _placements(rng: np.random.Generator, config: CorpusConfig) -> list[list[float]]:
    """Boxes of ``config.objects`` objects in distinct cells, each inside its own cell."""
    cells = rng.choice(config.grid * config.grid, size=config.objects, replace=False)
    boxes = []
    for cell in cells:
        row, col = divmod(int(cell), config.grid)
        side = int(rng.integers(int(config.cell * 0.65), config.cell - 3))
        dx, dy = (int(v) for v in rng.integers(1, config.cell - side, size=2))
        x0, y0 = col * config.cell + dx, row * config.cell + dy
        boxes.append([float(x0), float(y0), float(x0 + side), float(y0 + side)])
    return boxes


def make_sample(
    index: int, rng: np.random.Generator, config: CorpusConfig, kind: Kind, dataset: str
) -> SyntheticSample:
    """One image with ``config.objects`` distinct objects and one question about one of them."""
    image = _background(rng, config, kind)
    draw = ImageDraw.Draw(image)
    boxes = _placements(rng, config)
    colours = list(rng.choice(list(COLOURS), size=config.objects, replace=False))
    target = int(rng.integers(config.objects))
    ask_colour = bool(rng.integers(2))
    objects: list[dict[str, object]] = []
    if kind == "shapes":
        shapes = list(rng.choice(SHAPES, size=config.objects, replace=False))
        for shape, colour, box in zip(shapes, colours, boxes, strict=True):
            _draw_shape(draw, shape, box, COLOURS[colour])
            objects.append({"shape": shape, "colour": colour, "box": box})
        if ask_colour:
            question, answer = f"what colour is the {shapes[target]}?", colours[target]
        else:
            question, answer = f"which shape is {colours[target]}?", shapes[target]
    else:
        digits = list(rng.choice(DIGITS, size=config.objects, replace=False))
        font = ImageFont.load_default(size=int(config.cell * 0.6))
        for digit, colour, box in zip(digits, colours, boxes, strict=True):
            _draw_digit_box(draw, digit, box, COLOURS[colour], font)
            objects.append({"digit": digit, "colour": colour, "box": box})
        if ask_colour:
            question = f"what colour is the box with the digit {digits[target]}?"
            answer = colours[target]
        else:
            question, answer = f"which digit is in the {colours[target]} box?", digits[target]
    return SyntheticSample(
        id=f"{dataset}-{kind}-{index:06d}",
        image=image,
        question=question,
        answers=[str(answer)],
        evidence_boxes=[boxes[target]],
        dataset=dataset,
        kind=kind,
        objects=objects,
    )


def degrade(
    image: Image.Image, degradation: Degradation, rng: np.random.Generator, strength: float = 1.0
) -> Image.Image:
    """The paper's robustness conditions: Gaussian noise, blur, or masked 14-px patches."""
    if degradation == "blur":
        return image.filter(ImageFilter.GaussianBlur(radius=1.5 * strength))
    pixels = np.asarray(image, dtype=np.float64).copy()
    if degradation == "noise":
        pixels += rng.normal(0.0, 40.0 * strength, pixels.shape)
    elif degradation == "mask":
        patch = 14
        for y in range(0, pixels.shape[0], patch):
            for x in range(0, pixels.shape[1], patch):
                if rng.random() < 0.25 * strength:
                    pixels[y : y + patch, x : x + patch] = 128.0
    else:
        raise ValueError(f"unknown degradation {degradation!r}; use one of {DEGRADATIONS}")
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))


def generate_samples(
    count: int,
    seed: int,
    config: CorpusConfig | None = None,
    kinds: Sequence[Kind] = ("shapes", "digits"),
    degradation: Degradation | None = None,
    dataset: str | None = None,
) -> list[SyntheticSample]:
    """``count`` samples alternating over ``kinds``, identical for the same arguments.

    The degradation draws from its own generator, so a degraded corpus holds the same scenes
    and questions as the clean corpus of the same seed (a paired comparison).
    """
    config = config or CorpusConfig()
    rng = np.random.default_rng(seed)
    noise_rng = np.random.default_rng([seed, 1])
    name = dataset or ("synthetic" if degradation is None else f"synthetic-{degradation}")
    samples = []
    for index in range(count):
        sample = make_sample(index, rng, config, kinds[index % len(kinds)], name)
        if degradation is not None:
            sample.image = degrade(sample.image, degradation, noise_rng)
        samples.append(sample)
    return samples


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_webdataset(
    samples: Sequence[SyntheticSample], directory: Path, samples_per_shard: int = 100
) -> list[Path]:
    """Write ``corpus-NNNNN.tar`` shards (``json`` + ``png`` per sample); returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for shard, start in enumerate(range(0, len(samples), samples_per_shard)):
        path = directory / f"corpus-{shard:05d}.tar"
        with wds.TarWriter(str(path)) as sink:
            for sample in samples[start : start + samples_per_shard]:
                sink.write(
                    {"__key__": sample.id, "json": sample.record(), "png": _png(sample.image)}
                )
        paths.append(path)
    return paths


def write_jsonl(samples: Sequence[SyntheticSample], directory: Path) -> Path:
    """Write ``corpus.jsonl`` with images under ``images/`` (paths relative to the file)."""
    (directory / "images").mkdir(parents=True, exist_ok=True)
    path = directory / "corpus.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for sample in samples:
            relative = f"images/{sample.id}.png"
            sample.image.save(directory / relative)
            handle.write(json.dumps({**sample.record(), "image": relative}) + "\n")
    return path
