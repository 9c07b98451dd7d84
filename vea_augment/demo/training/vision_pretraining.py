"""Stage 1 of the demo model's training: teach the vision tower to see the corpus's objects.

Real VLMs start from a pretrained vision encoder; the bundled model has none, and learning
to tell a triangle from a diamond only through the answer loss is slow on a CPU (the answer
gradient reaches the vision tower through attention that is still diffuse). So the tower
and its merger first learn, with two linear heads that are thrown away afterwards, to name
the shape and the colour of the object covering every token (or "empty"). The corpus puts
each object in its own block of whole tokens, so every token has one label. The images get
the same evidence-blind photometric augmentation as in the answer stage, so the tower names
a dimmed red triangle as it names a bright one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from vea_augment.demo.corpus import COLOURS, SHAPES, CorpusConfig, SyntheticSample, generate_samples
from vea_augment.demo.training.augmentation import PhotometricAugmentation, augment_images

NO_AUGMENTATION = PhotometricAugmentation(probability=0.0)
VISION_SEED_OFFSET = 500_000_000
"""Scenes of this stage never repeat the answer stage's or the held-out set's seeds."""


@dataclass(frozen=True)
class VisionPretraining:
    """The stage's schedule: ``steps`` batches of scenes with 1..``max_objects`` objects."""

    steps: int = 1200
    batch_size: int = 32
    learning_rate: float = 1e-3
    max_objects: int = 4
    seed: int = 0
    #: Let the learning rate fall linearly to zero (else it stays constant).
    decay: bool = True
    augmentation: PhotometricAugmentation = NO_AUGMENTATION


def cell_labels(
    samples: Sequence[SyntheticSample], config: CorpusConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """(shape, colour) class per token, row-major per image, concatenated over ``samples``.

    The last class of each (``len(SHAPES)``, ``len(COLOURS)``) means "no object on the token".
    """
    colour_names = list(COLOURS)
    shapes, colours = [], []
    for sample in samples:
        shape_row = torch.full((config.grid * config.grid,), len(SHAPES))
        colour_row = torch.full((config.grid * config.grid,), len(COLOURS))
        for item in sample.objects:
            tokens = torch.tensor(config.tokens_of(item["box"]))  # type: ignore[arg-type]
            shape_row[tokens] = SHAPES.index(str(item["shape"]))
            colour_row[tokens] = colour_names.index(str(item["colour"]))
        shapes.append(shape_row)
        colours.append(colour_row)
    return torch.cat(shapes), torch.cat(colours)


def pretrain_vision(
    model: Any, processor: Any, schedule: VisionPretraining, log_every: int = 100
) -> dict[str, float]:
    """Train ``model``'s vision tower (and merger) in place; returns the last batch's accuracy.

    Only the tower's parameters change; the heads live and die inside this function.
    """
    visual = model.model.visual
    device = next(visual.parameters()).device
    width = visual.merger.mlp[-1].out_features
    shape_head = torch.nn.Linear(width, len(SHAPES) + 1).to(device)
    colour_head = torch.nn.Linear(width, len(COLOURS) + 1).to(device)
    parameters = [*visual.parameters(), *shape_head.parameters(), *colour_head.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=schedule.learning_rate)
    config = CorpusConfig()
    objects_rng = torch.Generator().manual_seed(schedule.seed)
    accuracy = {"shape": 0.0, "colour": 0.0}
    for step in range(schedule.steps):
        objects = int(torch.randint(1, schedule.max_objects + 1, (1,), generator=objects_rng))
        seed = VISION_SEED_OFFSET + schedule.seed * 100_003 + step
        samples = generate_samples(
            schedule.batch_size, seed=seed, config=CorpusConfig(objects=objects), kinds=("shapes",)
        )
        images = augment_images([s.image for s in samples], seed, schedule.augmentation)
        inputs = processor.image_processor(images, return_tensors="pt")
        tokens = visual(
            inputs["pixel_values"].to(device), grid_thw=inputs["image_grid_thw"].to(device)
        ).pooler_output
        shapes, colours = (labels.to(device) for labels in cell_labels(samples, config))
        shape_logits, colour_logits = shape_head(tokens), colour_head(tokens)
        loss = torch.nn.functional.cross_entropy(
            shape_logits, shapes
        ) + torch.nn.functional.cross_entropy(colour_logits, colours)
        for group in optimizer.param_groups:
            group["lr"] = schedule.learning_rate * (
                1.0 - step / schedule.steps if schedule.decay else 1.0
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        occupied = shapes < len(SHAPES)
        accuracy = {
            "shape": _accuracy(shape_logits[occupied], shapes[occupied]),
            "colour": _accuracy(colour_logits[occupied], colours[occupied]),
        }
        if log_every and (step + 1) % log_every == 0:
            shape, colour = accuracy["shape"], accuracy["colour"]
            print(f"vision step {step + 1}/{schedule.steps}  loss {loss.item():.4f}  "
                  f"shape {shape:.3f}  colour {colour:.3f}", flush=True)  # fmt: skip
    return accuracy


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return (logits.argmax(-1) == labels).float().mean().item()
