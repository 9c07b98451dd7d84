"""The Python API: load a VLM once, attribute (image, question) pairs, get maps in original pixels.

    attributor = Attributor.from_pretrained("Qwen/Qwen2.5-VL-7B-Instruct", layers=[18, 22, 24])
    result = attributor.attribute(image, "What is the shop's name?")
    mask = result.mask()            # (height, width) evidence map in [0, 1], original pixels

One prefill pass per batch, stopped after the deepest chosen layer (``attention.py``); the
family adapter says where the image tokens sit and which original pixels each one covers;
``method/`` turns the scores into a mask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from vea_augment.attribution.capture import (
    capturing,
    check_layers,
    install_capture,
    run_until_captured,
)
from vea_augment.errors import GeometryError
from vea_augment.method.pipeline import evidence_mask, highlight_with_views
from vea_augment.method.types import MaskConfig, TokenView
from vea_augment.models.adapter import FamilyAdapter, ViewLayout
from vea_augment.models.loading import load_model_and_processor
from vea_augment.models.placement import input_device
from vea_augment.models.prompting import (
    PromptStyle,
    question_text,
    question_token_positions,
    render_chat_prompt,
)
from vea_augment.models.registry import adapter_for
from vea_augment.options import ModelOptions


@dataclass(frozen=True)
class Attribution:
    """One sample's attribution.

    ``token_views`` hold the Eq. 1 scores (mean over the chosen layers of the head-averaged
    last-row attention) with each token's box in ORIGINAL pixels; ``layer_views`` hold the
    same per layer (for profiling); ``prompt`` is the exact prompt the model saw.
    """

    token_views: list[TokenView]
    layer_views: dict[int, list[TokenView]]
    prompt: str
    image_size: tuple[int, int]
    #: ``{layer: (heads, tokens)}`` with the tokens of every view flattened in view order;
    #: only when attributed with ``per_head=True``.
    head_scores: dict[int, np.ndarray] | None = None

    def mask(self, config: MaskConfig | None = None) -> np.ndarray:
        """The evidence map at the original resolution, in [0, 1] (Eq. 2, 3, normalise)."""
        return evidence_mask(self.token_views, *self.image_size, config=config)

    def highlight(self, image: Image.Image, config: MaskConfig | None = None) -> np.ndarray:
        """The highlighted image (Eq. 4) as an RGB uint8 array of the original size."""
        if image.size != self.image_size:
            raise GeometryError(f"image is {image.size}, the attribution is for {self.image_size}")
        highlighted, _ = highlight_with_views(
            np.asarray(image.convert("RGB")), self.token_views, config
        )
        return highlighted


@dataclass(frozen=True)
class CapturedBatch:
    """One capture pass over a batch: the raw last-token rows and where the image tokens are.

    ``rows[layer]`` is ``(batch, keys)`` (head mean), ``head_rows[layer]`` ``(batch, heads,
    keys)`` when asked for; ``prompt_mask`` is True at each row's real (non-padding) tokens;
    ``question_positions[row]`` are the sequence positions of that row's question tokens
    (empty where they could not be located).
    """

    prompts: list[str]
    image_sizes: list[tuple[int, int]]
    layouts: list[list[ViewLayout]]
    rows: dict[int, torch.Tensor]
    head_rows: dict[int, torch.Tensor]
    prompt_mask: np.ndarray
    question_positions: list[np.ndarray]

    def image_positions(self, row: int) -> np.ndarray:
        """Sequence positions of ``row``'s image tokens, every view flattened in view order."""
        return np.concatenate([layout.positions.reshape(-1) for layout in self.layouts[row]])

    def attribution(self, row: int) -> Attribution:
        """Row ``row`` as an :class:`Attribution` (per-head scores when they were captured)."""
        per_layer = _views_for_row(self.rows, row, self.layouts[row], self.image_sizes[row])
        head_scores = None
        if self.head_rows:
            positions = self.image_positions(row)
            head_scores = {
                layer: heads[row][:, positions].double().cpu().numpy()
                for layer, heads in self.head_rows.items()
            }
        return Attribution(
            token_views=_mean_over_layers(per_layer),
            layer_views=per_layer,
            prompt=self.prompts[row],
            image_size=self.image_sizes[row],
            head_scores=head_scores,
        )


def _views_for_row(
    rows: dict[int, torch.Tensor],
    row: int,
    layouts: list[ViewLayout],
    image_size: tuple[int, int],
) -> dict[int, list[TokenView]]:
    per_layer: dict[int, list[TokenView]] = {}
    for layer, attention in rows.items():
        weights = attention[row].double().cpu().numpy()
        per_layer[layer] = [
            TokenView(layout.name, weights[layout.positions], layout.boxes, image_size)
            for layout in layouts
        ]
    return per_layer


def _mean_over_layers(per_layer: dict[int, list[TokenView]]) -> list[TokenView]:
    first = next(iter(per_layer.values()))
    return [
        TokenView(
            view.name,
            np.mean([views[i].scores for views in per_layer.values()], axis=0),
            view.boxes,
            view.image_size,
        )
        for i, view in enumerate(first)
    ]


class Attributor:
    """A loaded VLM plus its family adapter, reading attention at fixed decoder layers."""

    def __init__(
        self,
        model: Any,
        processor: Any,
        layers: Sequence[int],
        model_id: str = "",
        max_length: int | None = None,
        prompt_style: PromptStyle = "base",
    ) -> None:
        self.model = model
        self.processor = processor
        self.model_id = model_id or getattr(model.config, "_name_or_path", "") or "model"
        self.adapter: FamilyAdapter = adapter_for(model.config, processor)
        self.attention_modules = self.adapter.attention_modules(model)
        self.num_layers = len(self.attention_modules)
        self.layers = check_layers(layers, self.num_layers)
        self.max_length = max_length
        self.prompt_style = prompt_style
        self.kernel = install_capture(
            model, self.adapter.text_config(), self.adapter.text_config_key
        )
        tokenizer = getattr(processor, "tokenizer", None)
        if tokenizer is not None:
            tokenizer.padding_side = "left"

    @classmethod
    def from_pretrained(
        cls,
        model_id: str | Path,
        layers: Sequence[int],
        options: ModelOptions | None = None,
        only_chosen_layers: bool = False,
        **kwargs: Any,
    ) -> Attributor:
        """Load ``model_id`` (hub id or local directory) and attribute at ``layers``.

        ``only_chosen_layers``: a model spread over several devices gets no decoder layer
        past the deepest of ``layers`` (the forward stops there anyway).
        """
        keep = max(layers) + 1 if only_chosen_layers and layers else None
        model, processor = load_model_and_processor(model_id, options, keep_layers=keep)
        return cls(model, processor, layers, model_id=str(model_id), **kwargs)

    @property
    def device(self) -> torch.device:
        """Where inputs go: the input embeddings' device (the first of a spread model)."""
        return input_device(self.model)

    def prompts(self, questions: Sequence[str]) -> list[str]:
        """The chat-template prompts the model sees for ``questions``."""
        return [
            render_chat_prompt(self.processor, question_text(q, self.prompt_style))
            for q in questions
        ]

    def encode(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> Any:
        """Processor output for a left-padded batch, on the model's device."""
        options: dict[str, Any] = {"padding": True, "return_tensors": "pt"}
        if self.max_length is not None:
            options.update(truncation=True, max_length=self.max_length)
        try:
            # One list of images per prompt: Gemma-3's and SmolVLM's processors read a flat
            # list as every image belonging to the first prompt.
            inputs = self.processor(
                images=[[image] for image in images], text=list(prompts), **options
            )
        except ValueError as error:
            raise GeometryError(
                f"the processor could not place the image tokens: {error}"
            ) from error
        dtype = self.model.dtype
        return inputs.to(self.device).to(dtype) if hasattr(inputs, "to") else inputs

    def attribute_batch(
        self,
        images: Sequence[Image.Image],
        questions: Sequence[str],
        layers: Sequence[int] | None = None,
        per_head: bool = False,
    ) -> list[Attribution]:
        """Attribute a batch in one prefill pass; row i is ``(images[i], questions[i])``.

        The result equals attributing each pair alone (left padding, each row's own last token).
        ``per_head`` also keeps every head's scores (``Attribution.head_scores``).
        """
        if not images and not questions:
            return []
        captured = self.capture(images, questions, layers, per_head)
        return [captured.attribution(row) for row in range(len(captured.prompts))]

    def capture(
        self,
        images: Sequence[Image.Image],
        questions: Sequence[str],
        layers: Sequence[int] | None = None,
        per_head: bool = False,
    ) -> CapturedBatch:
        """One prefill pass over a left-padded batch, stopped after the deepest layer.

        The raw material of :meth:`attribute_batch` and of the diagnostics (``analyze``).
        """
        if len(images) != len(questions):
            raise ValueError(f"{len(images)} images but {len(questions)} questions")
        chosen = self.layers if layers is None else check_layers(layers, self.num_layers)
        rgb = [image.convert("RGB") for image in images]
        prompts = self.prompts(questions)
        inputs = self.encode(rgb, prompts)
        layouts = [self.adapter.layouts(inputs, row, image.size) for row, image in enumerate(rgb)]
        with (
            torch.inference_mode(),
            capturing(self.attention_modules, chosen, per_head=per_head) as session,
        ):
            rows = run_until_captured(lambda: self.model(**inputs, use_cache=False), session)
        mask = inputs.get("attention_mask")
        prompt_mask = (
            np.ones(tuple(inputs["input_ids"].shape), dtype=bool)
            if mask is None
            else mask.bool().cpu().numpy()
        )
        ids = inputs["input_ids"].cpu().numpy()
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        return CapturedBatch(
            prompts=prompts,
            image_sizes=[image.size for image in rgb],
            layouts=layouts,
            rows=rows,
            head_rows=dict(sorted(session.head_rows.items())),
            prompt_mask=prompt_mask,
            question_positions=[
                question_token_positions(ids[row], tokenizer, prompts[row], question)
                for row, question in enumerate(questions)
            ],
        )

    def attribute(
        self, image: Image.Image, question: str, layers: Sequence[int] | None = None
    ) -> Attribution:
        """Attribute one (image, question) pair."""
        (result,) = self.attribute_batch([image], [question], layers)
        return result
