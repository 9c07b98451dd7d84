"""Layer profiling math (method step 1) and the attention-share diagnostics, numpy only.

Profiling scores each decoder layer by how well its last-token attention over the image
tokens ranks the evidence tokens (AUROC, NDCG against the boxes' token labels), then keeps the
top ``ceil(top_frac · L)`` layers by mean AUROC. RAPT (relative attention per token) compares
the attention a section of the prompt gets per token with the prompt-wide average.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from vea_augment.errors import ConfigError
from vea_augment.method.labels import DEFAULT_LABEL_RULE, LabelRule, evidence_labels
from vea_augment.method.ranking_metrics import auroc, ndcg
from vea_augment.method.types import TokenView


def flat_scores(views: Sequence[TokenView]) -> np.ndarray:
    """Every view's token scores, flattened in view order (the order of :func:`view_labels`)."""
    return np.concatenate([np.asarray(view.scores, dtype=np.float64).ravel() for view in views])


def view_labels(
    views: Sequence[TokenView],
    evidence_boxes: np.ndarray | Sequence,
    rule: LabelRule = DEFAULT_LABEL_RULE,
    image_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Evidence label of every token of every view, flattened in view order.

    Only image pixels count (``image_size``, else each view's own ``image_size``): a token
    that covers no pixel of the image, such as a pad token of LLaVA's pad-to-square view, is
    never evidence, even where an evidence box reaches past the image's edge.
    """
    boxes = np.asarray(evidence_boxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate(
        [
            evidence_labels(view.boxes.reshape(-1, 4), boxes, rule, image_size or view.image_size)
            for view in views
        ]
    )


def ranking_quality(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(AUROC, NDCG) of token scores against evidence labels; NaN when labels are all equal."""
    return auroc(scores, labels), ndcg(scores, labels)


def top_layers(auroc_means: Mapping[int, float | None], top_frac: float) -> list[int]:
    """The ``ceil(top_frac · L)`` layers with the highest mean AUROC, ascending.

    ``auroc_means`` has one entry per decoder layer (L entries). Undefined means (None or
    NaN) rank last; equal means prefer the shallower layer, so the choice is deterministic.
    Raises :class:`ConfigError` when ``top_frac`` is not in (0, 1] or no layer has a mean.
    """
    if not 0.0 < top_frac <= 1.0:
        raise ConfigError(f"--top-frac must lie in (0, 1], got {top_frac}")
    defined = {
        layer: value
        for layer, value in auroc_means.items()
        if value is not None and math.isfinite(value)
    }
    if not defined:
        raise ConfigError("no layer has a defined AUROC: no usable profiling sample")
    count = math.ceil(top_frac * len(auroc_means))
    ranked = sorted(auroc_means, key=lambda layer: (-defined.get(layer, -math.inf), layer))
    return sorted(ranked[:count])


def relative_attention_per_token(
    row: np.ndarray, sections: Mapping[str, np.ndarray], prompt: np.ndarray
) -> dict[str, float]:
    """RAPT of each section: its mean attention per token over the prompt's mean per token.

    ``row`` is one last-token attention row over all key positions; ``prompt`` and each
    section are boolean masks over the same positions (sections lie inside the prompt).
    1 means a section gets its fair share per token; an empty section gives NaN.
    """
    row = np.asarray(row, dtype=np.float64)
    prompt = np.asarray(prompt, dtype=bool)
    if not prompt.any():
        raise ValueError("the prompt mask selects no token")
    overall = row[prompt].mean()
    result = {}
    for name, section in sections.items():
        chosen = np.asarray(section, dtype=bool) & prompt
        result[name] = float(row[chosen].mean() / overall) if chosen.any() else math.nan
    return result
