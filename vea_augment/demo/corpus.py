"""A synthetic evidence-VQA corpus with exact ground-truth boxes, deterministic from a seed.

The images sit on a grid of vision tokens (28 px each for the bundled Qwen2-VL model, 7 x 7
of them by default) and every object fills a block of at least 2 x 2 tokens, so evidence
spans several tokens as it does in the text-centric VQA the paper studies (and the paper's
denoise step, Eq. 2, which removes isolated spikes, keeps it). Two kinds of image:

* ``shapes``: coloured shapes; "what colour is the triangle?" or "which shape is blue?";
* ``words``: tinted boxes with a short word in each (3 x 2 tokens); "what is written in the
  red box?" or "what colour is the box where open is written?".

Every question is answered by exactly one object, whose bounding box is the evidence; the
other objects are distractors, the first of which always shares the evidence's answered
attribute (a red circle beside the red triangle asked about; two boxes saying ``open``),
and small grey marks (clutter) lie under everything. An optional degradation (noise, blur,
patch masking) reproduces the paper's robustness experiment. Samples are written in the
input contract: WebDataset shards or JSONL + PNGs.
"""

from __future__ import annotations

import functools
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
#: Short words of the ``words`` kind (each one token of the bundled model's tokenizer).
WORDS = ("open", "closed", "shop", "cafe", "sign")
Kind = Literal["shapes", "words"]
KINDS: tuple[Kind, ...] = ("shapes", "words")
Degradation = Literal["noise", "blur", "mask"]
DEGRADATIONS: tuple[Degradation, ...] = ("noise", "blur", "mask")
#: Words the questions and answers use (the bundled model's tokenizer has one token each).
VOCABULARY = (
    *COLOURS,
    *SHAPES,
    *WORDS,
    "shape",
    "box",
    "colour",
    "what",
    "which",
    "where",
    "written",
)


@dataclass(frozen=True)
class CorpusConfig:
    """Geometry of the generated images: a ``grid`` x ``grid`` board of ``token``-px cells.

    A shape fills a square block of ``min_block``..``max_block`` tokens a side, a word box a
    block of 3 x 2 tokens; blocks sit on token boundaries and never overlap, and each object
    keeps at least a pixel inside its block, so the tokens an evidence box touches are exactly
    its block's.
    """

    token: int = 28
    grid: int = 7
    objects: int = 3
    min_block: int = 2
    max_block: int = 3
    #: Small grey marks (dots and strokes, each within about one token) under the objects.
    clutter: int = 8

    @property
    def size(self) -> int:
        return self.token * self.grid

    def tokens_of(self, box: Sequence[float]) -> list[int]:
        """Row-major indices of the token cells ``box`` overlaps (the ``any`` label rule)."""
        x0, y0, x1, y1 = box
        columns = range(int(x0 // self.token), int(np.ceil(x1 / self.token)))
        rows = range(int(y0 // self.token), int(np.ceil(y1 / self.token)))
        return [row * self.grid + column for row in rows for column in columns]


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
    spread = 4 if kind == "words" else 10
    pixels = rng.normal(BACKGROUND_GREY, spread, (config.size, config.size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _draw_clutter(
    draw: ImageDraw.ImageDraw, rng: np.random.Generator, config: CorpusConfig
) -> None:
    """Dots and short strokes in unsaturated greys (never a palette colour), anywhere."""
    for _ in range(config.clutter):
        grey = int(rng.integers(50, 200))
        fill = tuple(int(grey + v) for v in rng.integers(-8, 9, size=3))
        x, y = (float(v) for v in rng.uniform(0, config.size, size=2))
        reach = float(rng.uniform(3, config.token * 0.8))
        if rng.random() < 0.5:
            radius = reach / 4
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=fill)
        else:
            angle = rng.uniform(0, np.pi)
            end = (x + reach * np.cos(angle), y + reach * np.sin(angle))
            draw.line([(x, y), end], fill=fill, width=int(rng.integers(1, 3)))


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, box: list[float], fill: tuple) -> None:
    """Fill ``shape`` so that its pixels' bounding box is ``box`` (half-open pixel bounds)."""
    x0, y0 = box[0], box[1]
    x1, y1 = box[2] - 1, box[3] - 1  # PIL's bounds are inclusive
    if shape == "square":
        draw.rectangle([x0, y0, x1, y1], fill=fill)
    elif shape == "circle":
        draw.ellipse([x0, y0, x1, y1], fill=fill)
    elif shape == "triangle":
        draw.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=fill)
    else:
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        draw.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=fill)


@functools.cache
def _font() -> ImageFont.ImageFont:
    return ImageFont.load_default(size=22)


def _draw_word_box(
    draw: ImageDraw.ImageDraw, word: str, box: list[float], colour: tuple, font: ImageFont.ImageFont
) -> None:
    tint = tuple(int(255 - 0.35 * (255 - c)) for c in colour)
    draw.rectangle([box[0], box[1], box[2] - 1, box[3] - 1], fill=tint, outline=colour, width=3)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    draw.text((cx, cy), word, fill=(15, 15, 15), font=font, anchor="mm")


def _blocks(rng: np.random.Generator, config: CorpusConfig, kind: Kind) -> list[tuple[int, ...]]:
    """``config.objects`` non-overlapping blocks (row, column, rows, columns), in tokens.

    Drawn at random; a shape that does not fit after 200 draws is retried at the smallest
    size, and a layout that leaves no room for the next block is started again, so placement
    ends and stays a function of the generator alone.
    """
    for _ in range(100):
        blocks = _try_blocks(rng, config, kind)
        if len(blocks) == config.objects:
            return blocks
    raise ValueError(f"{config.objects} objects do not fit on a {config.grid}-token grid")


def _try_blocks(
    rng: np.random.Generator, config: CorpusConfig, kind: Kind
) -> list[tuple[int, ...]]:
    """One try at :func:`_blocks`: the blocks placed before one found no room."""
    taken = np.zeros((config.grid, config.grid), dtype=bool)
    blocks: list[tuple[int, ...]] = []
    for _ in range(config.objects):
        side = int(rng.integers(config.min_block, config.max_block + 1))
        for attempt in range(400):
            rows, columns = (2, 3) if kind == "words" else (side, side)
            if attempt >= 200:
                rows, columns = (2, 3) if kind == "words" else (config.min_block,) * 2
            row = int(rng.integers(0, config.grid - rows + 1))
            column = int(rng.integers(0, config.grid - columns + 1))
            if not taken[row : row + rows, column : column + columns].any():
                taken[row : row + rows, column : column + columns] = True
                blocks.append((row, column, rows, columns))
                break
        else:
            return blocks
    return blocks


def _box_in(
    rng: np.random.Generator, config: CorpusConfig, block: tuple[int, ...], kind: Kind
) -> list[float]:
    """The object's exact box inside ``block``: a word box fills it less a margin; a shape is
    a square of 78-100 % of the block (less 3 px) at a random offset, a pixel from its edges."""
    row, column, rows, columns = block
    left, top = column * config.token, row * config.token
    width, height = columns * config.token, rows * config.token
    if kind == "words":
        return [float(left + 2), float(top + 3), float(left + width - 2), float(top + height - 3)]
    side = int(rng.integers(int(0.78 * width), width - 2))
    dx, dy = (int(v) for v in rng.integers(1, width - side, size=2))
    return [float(left + dx), float(top + dy), float(left + dx + side), float(top + dy + side)]


def _attributes(
    rng: np.random.Generator, values: Sequence[str], count: int, target: str, unique: bool
) -> list[str]:
    """``count`` values, the target's first. ``unique``: no other takes the target's value (it
    names the object asked about); else the first distractor repeats it (the lure)."""
    others = [v for v in values if v != target] if unique else list(values)
    drawn = [str(v) for v in rng.choice(others, size=max(0, count - 1))]
    if not unique and drawn:
        drawn[0] = target
    return [target, *drawn]


def make_sample(
    index: int, rng: np.random.Generator, config: CorpusConfig, kind: Kind, dataset: str
) -> SyntheticSample:
    """One image with ``config.objects`` objects and one question about one of them.

    The asked object (the first drawn) is the only one with the attribute the question names;
    the first distractor shares its other attribute, the rest take any values.
    """
    image = _background(rng, config, kind)
    draw = ImageDraw.Draw(image)
    _draw_clutter(draw, rng, config)
    boxes = [_box_in(rng, config, block, kind) for block in _blocks(rng, config, kind)]
    ask_colour = bool(rng.integers(2))  # the question names the other attribute
    names = SHAPES if kind == "shapes" else WORDS
    colours = _attributes(
        rng, list(COLOURS), config.objects, str(rng.choice(list(COLOURS))), not ask_colour
    )
    labels = _attributes(rng, names, config.objects, str(rng.choice(names)), ask_colour)
    attribute = "shape" if kind == "shapes" else "word"
    # Attributes are drawn target first; a permutation deals them to the blocks, so the asked
    # object is anywhere in the drawing order and any of the blocks.
    order = [int(v) for v in rng.permutation(config.objects)]
    dealt = {block: position for position, block in enumerate(order)}
    objects: list[dict[str, object]] = []
    for block, box in enumerate(boxes):
        label, colour = labels[dealt[block]], colours[dealt[block]]
        if kind == "shapes":
            _draw_shape(draw, label, box, COLOURS[colour])
        else:
            _draw_word_box(draw, label, box, COLOURS[colour], _font())
        objects.append({attribute: label, "colour": colour, "box": box})
    if kind == "shapes" and ask_colour:
        question, answer = f"what colour is the {labels[0]}?", colours[0]
    elif kind == "shapes":
        question, answer = f"which shape is {colours[0]}?", labels[0]
    elif ask_colour:
        question, answer = f"what colour is the box where {labels[0]} is written?", colours[0]
    else:
        question, answer = f"what is written in the {colours[0]} box?", labels[0]
    return SyntheticSample(
        id=f"{dataset}-{kind}-{index:06d}",
        image=image,
        question=question,
        answers=[str(answer)],
        evidence_boxes=[boxes[order[0]]],
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
    kinds: Sequence[Kind] = KINDS,
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
