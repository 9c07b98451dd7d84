"""The paper's math, model-free and numpy-only: denoise, paint, smooth, normalise, highlight,
evidence labels and metrics; the answer-scoring protocols live in ``method.protocols``."""

from vea_augment.method.answer_metrics import (
    NORMALIZER_NAME,
    anls,
    exact_match,
    normalize_answer,
    token_f1,
    vqa_accuracy,
)
from vea_augment.method.denoise import denoise_grid
from vea_augment.method.highlight import highlight_image, mask_to_uint8
from vea_augment.method.labels import covered_fraction, evidence_labels
from vea_augment.method.normalize import min_max_normalize
from vea_augment.method.paint import canvas_shape, paint_views
from vea_augment.method.pipeline import evidence_mask, highlight_with_views
from vea_augment.method.ranking_metrics import (
    MeanSummary,
    auprc,
    auroc,
    nan_excluding_mean,
    ndcg,
)
from vea_augment.method.smooth import (
    gaussian_smooth,
    sigma_in_pixels,
    working_scale,
)
from vea_augment.method.types import MaskConfig, TokenView
from vea_augment.method.validation import check_finite_scores, clip_boxes

__all__ = [
    "NORMALIZER_NAME",
    "MaskConfig",
    "MeanSummary",
    "TokenView",
    "anls",
    "auprc",
    "auroc",
    "canvas_shape",
    "check_finite_scores",
    "clip_boxes",
    "covered_fraction",
    "denoise_grid",
    "evidence_labels",
    "evidence_mask",
    "exact_match",
    "gaussian_smooth",
    "highlight_image",
    "highlight_with_views",
    "mask_to_uint8",
    "min_max_normalize",
    "nan_excluding_mean",
    "ndcg",
    "normalize_answer",
    "paint_views",
    "sigma_in_pixels",
    "token_f1",
    "vqa_accuracy",
    "working_scale",
]
