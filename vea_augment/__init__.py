"""vea-augment: Visual Evidence Augmentation (arXiv 2510.17771) at dataset scale.

The Python API, importable from here::

    from vea_augment import Attributor, MaskConfig, evidence_mask

    attributor = Attributor.from_pretrained("Qwen/Qwen2.5-VL-7B-Instruct", layers=[18, 22, 24])
    mask = attributor.attribute(image, "What is the shop's name?").mask()

Names are imported on first use, so ``import vea_augment`` stays light (no torch) and the
numpy-only math works without a deep-learning stack. ``docs/ARCHITECTURE.md`` says which
folder owns what.
"""

from __future__ import annotations

from vea_augment._lazy import lazy_attributes
from vea_augment._version import __version__

_PUBLIC: dict[str, str] = {
    # Attribution: one prefill pass, token scores with original-pixel boxes.
    "Attributor": "vea_augment.attribution",
    "Attribution": "vea_augment.attribution",
    "resolve_layers": "vea_augment.attribution",
    "ModelOptions": "vea_augment.options",
    "load_model_and_processor": "vea_augment.models.loading",
    # The paper's math (numpy only).
    "MaskConfig": "vea_augment.method",
    "TokenView": "vea_augment.method",
    "evidence_mask": "vea_augment.method",
    "highlight_image": "vea_augment.method",
    "highlight_with_views": "vea_augment.method",
    "denoise_grid": "vea_augment.method",
    "gaussian_smooth": "vea_augment.method",
    "paint_views": "vea_augment.method",
    "min_max_normalize": "vea_augment.method",
    "evidence_labels": "vea_augment.method",
    "auroc": "vea_augment.method",
    "ndcg": "vea_augment.method",
    "exact_match": "vea_augment.method",
    "token_f1": "vea_augment.method",
    "anls": "vea_augment.method",
    "vqa_accuracy": "vea_augment.method",
    # Errors every entry point raises.
    "VEAError": "vea_augment.errors",
    "ConfigError": "vea_augment.errors",
    "GeometryError": "vea_augment.errors",
    "ImageDecodeError": "vea_augment.errors",
}

__all__ = ["__version__", *sorted(_PUBLIC)]


__getattr__, __dir__ = lazy_attributes(__name__, _PUBLIC, globals())
