"""Mask quality as a number (issue 17): pixel AUROC of the final mask against the evidence,
by sigma x lambda x boundary, on planted token grids and on the demo corpus.

    OMP_NUM_THREADS=1 python benchmarks/mask_quality.py --output BENCHMARKS.md

Planted grids: a 1024x683 image under a 37x24 token grid (about 27.7 x 28.5 px a token),
background scores drawn uniformly from [0, 0.05), evidence tokens at 1.0, the evidence box
the union of the evidence tokens' boxes. The demo corpus: the bundled model
(``vea_augment/demo/model``) attributes ``--samples`` generated scenes at its recorded
grounding layers, once; every configuration then masks the same token scores. The peak
table puts one hot token (no denoise) at every one of the 888 grid positions and measures
how far the mask's brightest pixel lands from the token's centre.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from vea_augment.method import MaskConfig, TokenView, evidence_mask, mask_auroc_ndcg
from vea_augment.method.labels import evidence_labels
from vea_augment.method.ranking_metrics import auroc
from vea_augment.method.types import BOUNDARY_MODES
from vea_augment.steps.mask_scores import strongest_token_replaced

WIDTH, HEIGHT, COLS, ROWS = 1024, 683, 37, 24
SIGMAS = (0.5, 0.25, 0.1, 0.05)
LAMBDAS: tuple[float | None, ...] = (10.0, None)  # None: denoise off
PEAK_SIGMAS = (0.5, 0.25, 0.1)
CASES: dict[str, list[tuple[int, int]]] = {
    "centre": [(12, 18)],
    "edge": [(12, 0)],
    "corner": [(0, 0)],
    "2x2 cluster": [(11, 17), (11, 18), (12, 17), (12, 18)],
    "two regions": [(5, 8), (18, 28)],
}
SECTION = "mask-quality"


def grid_boxes(width: float, height: float, rows: int, cols: int) -> np.ndarray:
    """``(rows, cols, 4)`` xyxy boxes tiling the image."""
    xs, ys = np.linspace(0, width, cols + 1), np.linspace(0, height, rows + 1)
    boxes = np.empty((rows, cols, 4))
    boxes[..., 0], boxes[..., 2] = xs[None, :-1], xs[None, 1:]
    boxes[..., 1], boxes[..., 3] = ys[:-1, None], ys[1:, None]
    return boxes


BOXES = grid_boxes(WIDTH, HEIGHT, ROWS, COLS)


def configs() -> Iterable[tuple[float, float | None, str, MaskConfig]]:
    for sigma in SIGMAS:
        for lam in LAMBDAS:
            for boundary in BOUNDARY_MODES:
                config = MaskConfig(
                    sigma=sigma, lam=lam or 10.0, denoise=lam is not None, boundary=boundary
                )
                yield sigma, lam, boundary, config


def planted_case(cells: list[tuple[int, int]], seed: int) -> tuple[TokenView, np.ndarray]:
    scores = np.random.default_rng(seed).uniform(0.0, 0.05, (ROWS, COLS))
    for row, col in cells:
        scores[row, col] = 1.0
    return TokenView("planted", scores, BOXES), np.array([BOXES[r, c] for r, c in cells])


def planted_table() -> list[str]:
    cases = {name: planted_case(cells, seed) for seed, (name, cells) in enumerate(CASES.items())}
    header = "| sigma | lambda | boundary | " + " | ".join(CASES) + " | mean |"
    lines = [header, "|" + "---|" * (len(CASES) + 4)]
    for sigma, lam, boundary, config in configs():
        values = []
        for view, boxes in cases.values():
            mask = evidence_mask([view], WIDTH, HEIGHT, config)
            values.append(mask_auroc_ndcg(mask, boxes)[0])
        cells = " | ".join(f"{v:.3f}" for v in values)
        lines.append(f"| {label(sigma, lam, boundary)} | {cells} | **{np.mean(values):.3f}** |")
    return lines


def label(sigma: float, lam: float | None, boundary: str) -> str:
    sigma_text = f"{sigma}" + (" (paper)" if sigma == 0.5 else "")
    lam_text = "off" if lam is None else f"{lam:g}" + (" (paper)" if lam == 10 else "")
    return f"{sigma_text} | {lam_text} | {boundary}" + (" (paper)" if boundary == "reflect" else "")


def peak_displacements(sigma: float, boundary: str) -> tuple[np.ndarray, np.ndarray]:
    """``(ROWS, COLS)`` twice: px from each lone hot token's centre to its mask's brightest
    pixel, and whether that pixel lies inside the token's own box."""
    config = MaskConfig(sigma=sigma, denoise=False, boundary=boundary)
    shifts, inside = np.zeros((ROWS, COLS)), np.zeros((ROWS, COLS), dtype=bool)
    for row in range(ROWS):
        for col in range(COLS):
            scores = np.zeros((ROWS, COLS))
            scores[row, col] = 1.0
            mask = evidence_mask([TokenView("hot", scores, BOXES)], WIDTH, HEIGHT, config)
            y, x = np.unravel_index(int(np.argmax(mask)), mask.shape)
            x0, y0, x1, y1 = BOXES[row, col]
            shifts[row, col] = np.hypot(x + 0.5 - (x0 + x1) / 2, y + 0.5 - (y0 + y1) / 2)
            inside[row, col] = x0 <= x + 0.5 <= x1 and y0 <= y + 0.5 <= y1
    return shifts, inside


def peak_table() -> list[str]:
    lines = [
        "| sigma | boundary | centre (12,18) | edge (12,0) | corner (0,0) | mean over 888 "
        "positions | max | peak on the token |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for sigma in PEAK_SIGMAS:
        for boundary in BOUNDARY_MODES:
            shifts, inside = peak_displacements(sigma, boundary)
            share = float(inside.mean())
            lines.append(
                f"| {sigma} | {boundary} | {shifts[12, 18]:.0f} | {shifts[12, 0]:.0f} | "
                f"{shifts[0, 0]:.0f} | {shifts.mean():.0f} | {shifts.max():.0f} | {share:.0%} |"
            )
    return lines


def demo_table(samples: int) -> tuple[list[str], str]:
    from vea_augment.attribution import Attributor
    from vea_augment.demo.corpus import generate_samples
    from vea_augment.demo.run import DEMO_SEED
    from vea_augment.demo.training.recipe import BUNDLED_MODEL_DIR, bundled_recipe
    from vea_augment.options import ModelOptions

    recipe = bundled_recipe(BUNDLED_MODEL_DIR)
    layers = list(recipe.get("grounding_layers", [2]))
    kinds = tuple(recipe.get("kinds", ("shapes",)))
    corpus = generate_samples(samples, DEMO_SEED, kinds=kinds)
    attributor = Attributor.from_pretrained(
        str(BUNDLED_MODEL_DIR), layers, ModelOptions(dtype="float32"), only_chosen_layers=True
    )
    views: list[list[TokenView]] = []
    for start in range(0, len(corpus), 8):
        batch = corpus[start : start + 8]
        results = attributor.attribute_batch([s.image for s in batch], [s.question for s in batch])
        views += [result.token_views for result in results]
    token_aurocs = []
    for sample, sample_views in zip(corpus, views, strict=True):
        for view in sample_views:
            labels = evidence_labels(view.boxes, np.asarray(sample.evidence_boxes, float))
            token_aurocs.append(auroc(np.asarray(view.scores), labels))
    replaced = sum(strongest_token_replaced(v, MaskConfig()) for v in views)
    lines = ["| sigma | lambda | boundary | pixel AUROC | pixel NDCG |", "|---|---|---|---|---|"]
    for sigma, lam, boundary, config in configs():
        scores = []
        for sample, sample_views in zip(corpus, views, strict=True):
            width, height = sample.image.size
            mask = evidence_mask(sample_views, width, height, config)
            scores.append(mask_auroc_ndcg(mask, sample.evidence_boxes))
        mean_auroc, mean_ndcg = np.nanmean(np.array(scores), axis=0)
        lines.append(f"| {label(sigma, lam, boundary)} | {mean_auroc:.3f} | {mean_ndcg:.3f} |")
    size = corpus[0].image.size
    note = (
        f"{len(corpus)} scenes ({'/'.join(kinds)}, {size[0]}x{size[1]} px, seed {DEMO_SEED}), "
        f"layers {','.join(map(str, layers))}: token AUROC of the attribution itself "
        f"{np.nanmean(token_aurocs):.3f}; the paper's lambda = 10 replaces the strongest token "
        f"in {replaced} of {len(corpus)} samples."
    )
    return lines, note


def write_section(path: Path, text: str) -> None:
    """Replace the section between this benchmark's markers in ``path`` (or append it)."""
    start, end = f"<!-- {SECTION} -->", f"<!-- /{SECTION} -->"
    block = f"{start}\n{text}\n{end}\n"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if start in old and end in old:
        head, rest = old.split(start, 1)
        new = head + block + rest.split(end, 1)[1].lstrip("\n")
    else:
        new = old.rstrip("\n") + "\n\n" + block
    path.write_text(new, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=48, help="Demo scenes to attribute.")
    parser.add_argument("--output", type=Path, help="Markdown file to write the section into.")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    planted = planted_table()
    peaks = peak_table()
    demo, note = demo_table(args.samples)
    seconds = time.perf_counter() - began
    text = "\n".join(
        [
            "## Mask quality: pixel AUROC by sigma, lambda and boundary (issue 17)",
            "",
            "Written by `OMP_NUM_THREADS=1 python benchmarks/mask_quality.py --output "
            f"BENCHMARKS.md` in {seconds:.0f} s on the CPU. Pixel AUROC of the final mask "
            "against the evidence boxes (`method/mask_quality.py`: cells of at most 256 per "
            "side, a cell evidence when half of it lies in a box); lambda off = no denoise.",
            "",
            f"### Planted grids ({WIDTH}x{HEIGHT} px, {COLS}x{ROWS} tokens)",
            "",
            *planted,
            "",
            "### Peak displacement of one hot token (px from the token's centre, no denoise)",
            "",
            *peaks,
            "",
            "### Demo corpus through the bundled model",
            "",
            note,
            "",
            *demo,
        ]
    )
    print(text)
    if args.output is not None:
        write_section(args.output, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
