"""The paper's math, model-free and numpy-only: denoise, paint, smooth, normalise, highlight."""

from vea_augment.method.denoise import denoise_grid
from vea_augment.method.highlight import highlight_image, mask_to_uint8
from vea_augment.method.labels import covered_fraction, evidence_labels
from vea_augment.method.normalize import min_max_normalize
from vea_augment.method.paint import canvas_shape, paint_views
from vea_augment.method.pipeline import evidence_mask, highlight_with_views
from vea_augment.method.smooth import (
    gaussian_smooth,
    reference_gaussian_smooth,
    sigma_in_pixels,
    working_scale,
)
from vea_augment.method.types import MaskConfig, TokenView
from vea_augment.method.validation import check_finite_scores, clip_boxes

__all__ = [
    "MaskConfig",
    "TokenView",
    "canvas_shape",
    "check_finite_scores",
    "clip_boxes",
    "covered_fraction",
    "denoise_grid",
    "evidence_labels",
    "evidence_mask",
    "gaussian_smooth",
    "highlight_image",
    "highlight_with_views",
    "mask_to_uint8",
    "min_max_normalize",
    "paint_views",
    "reference_gaussian_smooth",
    "sigma_in_pixels",
    "working_scale",
]
