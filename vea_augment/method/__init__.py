"""The paper's math, model-free and numpy-only: denoise, paint, smooth, normalise, highlight
(and the oracle highlight from evidence boxes), evidence labels and metrics; the
answer-scoring protocols live in ``method.protocols``.

Names are imported on first use: importing one piece of the math (say ``types`` for
``MaskConfig``) does not pull in scipy's statistics or image filters."""

from __future__ import annotations

from vea_augment._lazy import lazy_attributes

_HOMES: dict[str, str] = {
    "NORMALIZER_NAME": "vea_augment.method.answer_metrics",
    "anls": "vea_augment.method.answer_metrics",
    "exact_match": "vea_augment.method.answer_metrics",
    "normalize_answer": "vea_augment.method.answer_metrics",
    "token_f1": "vea_augment.method.answer_metrics",
    "vqa_accuracy": "vea_augment.method.answer_metrics",
    "denoise_grid": "vea_augment.method.denoise",
    "replaced_cells": "vea_augment.method.denoise",
    "highlight_image": "vea_augment.method.highlight",
    "mask_to_uint8": "vea_augment.method.highlight",
    "covered_fraction": "vea_augment.method.labels",
    "evidence_labels": "vea_augment.method.labels",
    "min_max_normalize": "vea_augment.method.normalize",
    "oracle_highlight": "vea_augment.method.oracle",
    "oracle_mask": "vea_augment.method.oracle",
    "canvas_shape": "vea_augment.method.paint",
    "paint_views": "vea_augment.method.paint",
    "evidence_mask": "vea_augment.method.pipeline",
    "highlight_with_views": "vea_augment.method.pipeline",
    "mask_auroc": "vea_augment.method.mask_quality",
    "mask_auroc_ndcg": "vea_augment.method.mask_quality",
    "MeanSummary": "vea_augment.method.ranking_metrics",
    "auprc": "vea_augment.method.ranking_metrics",
    "auroc": "vea_augment.method.ranking_metrics",
    "nan_excluding_mean": "vea_augment.method.ranking_metrics",
    "ndcg": "vea_augment.method.ranking_metrics",
    "gaussian_smooth": "vea_augment.method.smooth",
    "sigma_in_pixels": "vea_augment.method.smooth",
    "working_scale": "vea_augment.method.smooth",
    "BOUNDARY_MODES": "vea_augment.method.types",
    "BoundaryMode": "vea_augment.method.types",
    "MaskConfig": "vea_augment.method.types",
    "TokenView": "vea_augment.method.types",
    "check_finite_scores": "vea_augment.method.validation",
    "clip_boxes": "vea_augment.method.validation",
}

__all__ = sorted(_HOMES)


__getattr__, __dir__ = lazy_attributes(__name__, _HOMES, globals())
