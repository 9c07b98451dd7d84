"""Answering with a local transformers VLM: batched greedy generation, any image-text model.

No attribution adapter is needed: the model's own processor and chat template place the
images, so any ``AutoModelForImageTextToText`` checkpoint answers.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image

from vea_augment.answering.backend import (
    AnswerOutcome,
    AnswerRequest,
    unencodable_text,
    writable_text,
)
from vea_augment.data.images import decode_image
from vea_augment.errors import VEAError
from vea_augment.fallback import batch_then_one_by_one
from vea_augment.models.loading import load_model_and_processor
from vea_augment.models.placement import input_device
from vea_augment.models.prompting import render_chat_prompt
from vea_augment.options import (
    ANSWER_BATCH_SIZE,
    MAX_IMAGE_PIXELS,
    MAX_NEW_TOKENS,
    ModelOptions,
)

GENERATION_ERRORS = (RuntimeError, ValueError, IndexError)
"""What a bad request makes ``generate`` raise (shapes, placeholders, device errors)."""


def _generation_failed(item: tuple[int, str, list[Any]], error: Exception) -> AnswerOutcome:
    reason = f"generation failed: {type(error).__name__}: {str(error)[:300]}"
    return AnswerOutcome(item[1], error=reason)


class TransformersBackend:
    """A loaded VLM answering requests in batches of ``batch_size`` (greedy, 50 new tokens).

    Requests with the same number of images are batched together (left padding); a batch
    that fails is retried one request at a time so that one bad input costs only itself.
    """

    name = "transformers"

    def __init__(
        self,
        model: Any,
        processor: Any,
        model_id: str,
        batch_size: int = ANSWER_BATCH_SIZE,
        max_new_tokens: int = MAX_NEW_TOKENS,
        max_pixels: int = MAX_IMAGE_PIXELS,
    ) -> None:
        from transformers import GenerationConfig

        self.model_id = model_id
        self.model, self.processor = model, processor
        self.device = input_device(model)
        self.batch_size = batch_size
        self.max_pixels = max_pixels
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        eos = self.model.generation_config.eos_token_id
        self.generation = GenerationConfig(
            do_sample=False,
            num_beams=1,
            max_new_tokens=max_new_tokens,
            eos_token_id=eos if eos is not None else tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id
            if tokenizer.pad_token_id is not None
            else tokenizer.eos_token_id,
        )

    @classmethod
    def load(
        cls, model_id: str, options: ModelOptions | None = None, **settings: Any
    ) -> TransformersBackend:
        """Load ``model_id`` (hub id or local directory) and answer with it."""
        model, processor = load_model_and_processor(model_id, options)
        return cls(model, processor, model_id, **settings)

    def answer(self, requests: Sequence[AnswerRequest]) -> list[AnswerOutcome]:
        decoded: list[list[Image.Image] | str] = []
        for request in requests:
            try:
                decoded.append(
                    [
                        decode_image(image.data, max_pixels=self.max_pixels, name=image.name)
                        for image in request.images
                    ]
                )
            except VEAError as exc:
                decoded.append(str(exc))
        return self.answer_decoded([request.text for request in requests], decoded)

    def answer_decoded(
        self, texts: Sequence[str], images: Sequence[list[Image.Image] | str]
    ) -> list[AnswerOutcome]:
        """Answer ``texts[i]`` about the decoded ``images[i]`` (a string there is the reason
        its images could not be decoded: it becomes that request's error)."""
        outcomes: list[AnswerOutcome | None] = [None] * len(texts)
        ready: dict[int, list[tuple[int, str, list[Any]]]] = defaultdict(list)
        for index, (text, pictures) in enumerate(zip(texts, images, strict=True)):
            prompt = ""
            unencodable = unencodable_text(text)
            if unencodable is not None:
                outcomes[index] = AnswerOutcome(prompt=writable_text(text), error=unencodable)
                continue
            try:
                prompt = render_chat_prompt(self.processor, text, max(1, len(pictures)))
            except ValueError as exc:
                outcomes[index] = AnswerOutcome(prompt=text, error=str(exc))
                continue
            if isinstance(pictures, str):
                outcomes[index] = AnswerOutcome(prompt=prompt, error=pictures)
                continue
            ready[len(pictures)].append((index, prompt, pictures))
        for group in ready.values():
            for start in range(0, len(group), self.batch_size):
                chunk = group[start : start + self.batch_size]
                for (index, _, _), outcome in zip(chunk, self._answer_chunk(chunk), strict=True):
                    outcomes[index] = outcome
        return [outcome for outcome in outcomes if outcome is not None]

    def _answer_chunk(self, chunk: list[tuple[int, str, list[Any]]]) -> list[AnswerOutcome]:
        return batch_then_one_by_one(
            chunk, self._answer_together, _generation_failed, errors=GENERATION_ERRORS
        )

    def _answer_together(self, chunk: Sequence[tuple[int, str, list[Any]]]) -> list[AnswerOutcome]:
        prompts = [prompt for _, prompt, _ in chunk]
        began = time.perf_counter()
        answers = self._generate(prompts, [images for _, _, images in chunk])
        share = (time.perf_counter() - began) / len(chunk)
        return [
            AnswerOutcome(p, answer=a, seconds=share) for p, a in zip(prompts, answers, strict=True)
        ]

    @torch.inference_mode()
    def _generate(self, prompts: list[str], images: list[list[Any]]) -> list[str]:
        inputs = self.processor(text=prompts, images=images, padding=True, return_tensors="pt")
        inputs = inputs.to(self.device)
        output = self.model.generate(**inputs, generation_config=self.generation)
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        texts = self.processor.batch_decode(new_tokens, skip_special_tokens=True)
        return [text.strip() for text in texts]
