"""``vea-augment self-check``: fast, offline checks that an installation works end to end.

Each check exercises the real component (the installed packages, the exported contracts,
the paper's math on a planted evidence map, image decoding, a local Ray instance) and
reports pass/fail with a one-line detail; nothing here is mocked.
"""

from __future__ import annotations

import importlib
import io
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str


def _check_packages() -> str:
    versions = []
    for name in (
        "numpy",
        "scipy",
        "PIL",
        "pydantic",
        "torch",
        "torchvision",
        "transformers",
        "ray",
        "webdataset",
    ):
        module = importlib.import_module(name)
        versions.append(f"{name} {getattr(module, '__version__', '?')}")
    transformers = importlib.import_module("transformers")
    if not transformers.__version__.startswith("5."):
        raise RuntimeError(f"transformers 5.x required, found {transformers.__version__}")
    return ", ".join(versions)


def _check_contracts() -> str:
    from vea_augment.schemas.export import CONTRACTS, stale_schemas

    stale = stale_schemas()
    if stale:
        raise RuntimeError(f"stale JSON Schema files: {', '.join(stale)}")
    return f"{len(CONTRACTS)} JSON Schemas match their models"


def _planted_views() -> tuple[list, np.ndarray, int, int]:
    from vea_augment.method.types import TokenView

    width, height, rows, cols = 160, 120, 6, 8
    ys, xs = np.mgrid[0:rows, 0:cols]
    boxes = np.stack([xs * 20.0, ys * 20.0, (xs + 1) * 20.0, (ys + 1) * 20.0], axis=-1)
    scores = np.full((rows, cols), 0.01)
    scores[2:4, 5:7] = 0.2  # the planted evidence: a 2x2 cluster survives denoising
    scores[0, 0] = 5.0  # an attention-sink spike at a corner, which Eq. 2 must remove
    evidence = np.array([[100.0, 40.0, 140.0, 80.0]])
    return [TokenView("image", scores, boxes)], evidence, width, height


def _check_method() -> str:
    from vea_augment.method.denoise import denoise_grid
    from vea_augment.method.highlight import highlight_image
    from vea_augment.method.labels import evidence_labels
    from vea_augment.method.pipeline import evidence_mask
    from vea_augment.method.ranking_metrics import auroc
    from vea_augment.method.types import MaskConfig

    views, evidence, width, height = _planted_views()
    denoised = denoise_grid(views[0].scores, lam=10.0)
    if denoised[0, 0] >= 1.0:
        raise RuntimeError("Eq. 2 left the corner spike in place")
    mask = evidence_mask(views, width, height, MaskConfig(sigma=0.05))
    peak_y, peak_x = np.unravel_index(int(np.argmax(mask)), mask.shape)
    if not (100 <= peak_x < 140 and 40 <= peak_y < 80):
        raise RuntimeError(f"mask peak at ({peak_x}, {peak_y}) is outside the evidence box")
    image = np.full((height, width, 3), 200, dtype=np.uint8)
    highlighted = highlight_image(image, mask, alpha=0.5)
    if highlighted.max() > 200 or highlighted.min() < 100:
        raise RuntimeError("Eq. 4 brightened or over-dimmed a pixel")
    labels = evidence_labels(views[0].boxes.reshape(-1, 4), evidence, rule="any")
    score = auroc(denoised.reshape(-1), labels)
    if score != 1.0:
        raise RuntimeError(f"AUROC of the planted map is {score}, expected 1.0")
    return f"spike removed, mask peak inside the evidence, AUROC {score:.2f}"


def _check_images() -> str:
    from vea_augment.data.images import decode_image

    modes = {
        "L": Image.new("L", (8, 6), 128),
        "LA": Image.new("LA", (8, 6), (128, 0)),
        "P": Image.new("P", (8, 6), 3),
        "RGBA": Image.new("RGBA", (8, 6), (10, 20, 30, 0)),
        "CMYK": Image.new("CMYK", (8, 6), (0, 255, 0, 0)),
        "I;16": Image.new("I;16", (8, 6), 65535),
    }
    for mode, image in modes.items():
        buffer = io.BytesIO()
        image.save(buffer, format="TIFF" if mode in ("CMYK", "I;16") else "PNG")
        decoded = decode_image(buffer.getvalue(), name=f"self-check {mode}")
        if decoded.mode != "RGB" or decoded.size != (8, 6):
            raise RuntimeError(f"{mode} decoded to {decoded.mode} {decoded.size}")
    return f"{', '.join(modes)} decode to RGB"


def _check_ray() -> str:
    import ray

    started = time.perf_counter()
    already = ray.is_initialized()
    if not already:
        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:

        @ray.remote
        def square(value: int) -> int:
            return value * value

        result = ray.get([square.remote(value) for value in range(4)])
    finally:
        if not already:
            ray.shutdown()
    if result != [0, 1, 4, 9]:
        raise RuntimeError(f"Ray tasks returned {result}")
    return f"local Ray ran 4 tasks in {time.perf_counter() - started:.1f}s"


def run_self_check(include_ray: bool = True) -> list[CheckResult]:
    """Run every check; a failing check records its error instead of stopping the others."""
    checks: list[tuple[str, Callable[[], str]]] = [
        ("packages", _check_packages),
        ("contracts", _check_contracts),
        ("method (Eq. 2-4, labels, AUROC)", _check_method),
        ("image decoding", _check_images),
    ]
    if include_ray:
        checks.append(("ray", _check_ray))
    results = []
    for name, check in checks:
        try:
            results.append(CheckResult(name, True, check()))
        except Exception as exc:  # a self-check reports every failure, whatever its type
            results.append(CheckResult(name, False, f"{type(exc).__name__}: {exc}"))
    return results
