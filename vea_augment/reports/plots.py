"""Diagnostic figures (matplotlib, headless): curves by decoder layer and a contact sheet."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@dataclass(frozen=True)
class Curve:
    """One line of a by-layer plot: values per layer (NaN leaves a gap) and its style."""

    label: str
    values: Sequence[float]
    style: str = "-"
    color: str | None = None


def plot_by_layer(
    path: Path,
    curves: Sequence[Curve],
    title: str,
    ylabel: str,
    marked_layers: Sequence[int] = (),
    reference: tuple[float, str] | None = None,
) -> Path:
    """Curves against the 0-based decoder layer, with ``marked_layers`` shaded and labelled
    (the chosen visual-grounding layers) and an optional horizontal reference line."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(9, 5), dpi=100)
    for curve in curves:
        layers = np.arange(len(curve.values))
        values = np.asarray(curve.values, dtype=np.float64)
        axes.plot(
            layers, values, curve.style, color=curve.color, marker="o", ms=3, label=curve.label
        )
    for index, layer in enumerate(marked_layers):
        axes.axvspan(
            layer - 0.4,
            layer + 0.4,
            color="gold",
            alpha=0.35,
            label="chosen layers (L_VG)" if index == 0 else None,
        )
    if reference is not None:
        axes.axhline(reference[0], color="grey", lw=1, ls=":", label=reference[1])
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("decoder layer (0-based)")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


@dataclass(frozen=True)
class SheetItem:
    """One tile of the contact sheet: the image, its heat map, boxes, and the verdict."""

    image: np.ndarray
    heat: np.ndarray
    boxes: Sequence[Sequence[float]]
    title: str
    correct: bool


def plot_contact_sheet(path: Path, items: Sequence[SheetItem], columns: int = 4) -> Path:
    """A grid of samples: image with the evidence heat map over it, ground-truth boxes drawn
    in green, and the question, answer and whether it was right as the caption."""
    plt = _pyplot()
    from matplotlib.patches import Rectangle

    rows = max(1, -(-len(items) // columns))
    figure, grid = plt.subplots(
        rows, columns, figsize=(3.2 * columns, 3.4 * rows), dpi=100, squeeze=False
    )
    for axes in grid.ravel():
        axes.axis("off")
    for axes, item in zip(grid.ravel(), items, strict=False):
        axes.imshow(item.image)
        axes.imshow(
            item.heat,
            cmap="jet",
            alpha=0.45,
            vmin=0.0,
            vmax=1.0,
            extent=(0, item.image.shape[1], item.image.shape[0], 0),
        )
        for x0, y0, x1, y1 in item.boxes:
            axes.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1.5, ec="lime"))
        axes.set_title(item.title, fontsize=7, color="darkgreen" if item.correct else "firebrick")
    figure.suptitle("evidence map of the chosen layers (boxes: ground truth; green title: right)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


#: The mask comparison's panel size and resolution: a sheet of R samples and C panels is
#: exactly (C * width * dpi) x (R * height * dpi) pixels (saved without a tight bounding box).
PANEL_INCHES = (2.6, 2.8)
PANEL_DPI = 100


@dataclass(frozen=True)
class ComparisonRow:
    """One sample of the mask comparison: the image, its boxes, and maps shown beside it.

    Each panel is ``(title, map)``: any 2-D array, stretched over the image's extent (a token
    grid is shown cell by cell, a mask pixel by pixel), each on its own colour scale."""

    image: np.ndarray
    boxes: Sequence[Sequence[float]]
    title: str
    panels: Sequence[tuple[str, np.ndarray]]


def comparison_size(rows: int, panels: int) -> tuple[int, int]:
    """The ``(width, height)`` in pixels of a mask comparison of ``rows`` samples, each the
    image and ``panels`` maps."""
    width, height = PANEL_INCHES
    return round((panels + 1) * width * PANEL_DPI), round(max(1, rows) * height * PANEL_DPI)


def plot_mask_comparison(path: Path, rows: Sequence[ComparisonRow], title: str) -> Path:
    """One line per sample: the image with its ground-truth boxes (green), then each panel
    over the image's extent with the same boxes drawn, side by side. The file's pixel size
    is :func:`comparison_size` (rows, panels of the widest row)."""
    plt = _pyplot()
    from matplotlib.patches import Rectangle

    columns = 1 + max((len(row.panels) for row in rows), default=0)
    width, height = comparison_size(len(rows), columns - 1)
    figure, grid = plt.subplots(
        max(1, len(rows)),
        columns,
        figsize=(width / PANEL_DPI, height / PANEL_DPI),
        dpi=PANEL_DPI,
        squeeze=False,
    )
    for axes in grid.ravel():
        axes.axis("off")
    for line, row in zip(grid, rows, strict=False):
        image_height, image_width = row.image.shape[:2]
        extent = (0, image_width, image_height, 0)
        line[0].imshow(row.image, extent=extent)
        line[0].set_title(row.title, fontsize=7)
        for axes, (label, values) in zip(line[1:], row.panels, strict=False):
            values = np.asarray(values, dtype=np.float64)
            axes.imshow(values, cmap="magma", interpolation="nearest", extent=extent)
            axes.set_title(label, fontsize=7)
        for axes in line[: 1 + len(row.panels)]:
            axes.set_xlim(0, image_width)
            axes.set_ylim(image_height, 0)
            for x0, y0, x1, y1 in row.boxes:
                axes.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1.2, ec="lime"))
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
