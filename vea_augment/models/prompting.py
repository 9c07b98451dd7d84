"""The paper's prompts, and rendering them with a model's own chat template."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

#: The curly quotes around the abstention string, as the paper's release writes them
#: (github.com/ZhiningLiu1998/VEA, ``vea/config.py``); escapes keep this file ASCII.
_LQUO, _RQUO = "\u201c", "\u201d"
_PREFIX = (
    "Directly answer the question based on the image, no explanation is needed. "
    f"If the image does not contain any relevant evidence, output {_LQUO}I cannot answer "
    f"based on the given image.{_RQUO} "
)
#: The one sentence by which the VEA prompt differs from the base prompt; the released
#: prompt places it before ``Question: {question}``.
VEA_INSTRUCTION = (
    "Only use words from the picture, especially those in the highlighted region, "
    "to answer the question."
)
QA_PROMPT = _PREFIX + "Question: {question}"
VEA_PROMPT = _PREFIX + VEA_INSTRUCTION + " Question: {question}"

PromptStyle = Literal["base", "vea"]


def question_text(question: str, style: PromptStyle = "base") -> str:
    """The user text of the base QA prompt, or of the VEA prompt (the instruction inserted
    before the question), exactly as the paper's release writes them."""
    if not question.strip():
        raise ValueError("the question is empty")
    if style not in ("base", "vea"):
        raise ValueError(f"unknown prompt style {style!r}; use 'base' or 'vea'")
    template = VEA_PROMPT if style == "vea" else QA_PROMPT
    return template.format(question=question.strip())


def image_question_messages(text: str, image_count: int = 1) -> list[dict[str, Any]]:
    """One user turn holding the image(s) first, then the text (the layout the paper uses)."""
    if image_count < 1:
        raise ValueError(f"a VQA prompt needs at least one image, got {image_count}")
    content: list[dict[str, Any]] = [{"type": "image"} for _ in range(image_count)]
    return [{"role": "user", "content": [*content, {"type": "text", "text": text}]}]


def render_chat_prompt(processor: Any, text: str, image_count: int = 1) -> str:
    """The prompt string for ``image_count`` images + ``text``, from the processor's own chat
    template, ending with the assistant turn's opening so the next token is the answer's
    first."""
    if getattr(processor, "chat_template", None) is None:
        raise ValueError(
            "the processor has no chat template; load an instruction-tuned checkpoint or set "
            "processor.chat_template"
        )
    return processor.apply_chat_template(
        image_question_messages(text, image_count), add_generation_prompt=True, tokenize=False
    )


def question_token_positions(
    input_ids: Sequence[int], tokenizer: Any, prompt: str, question: str
) -> np.ndarray:
    """Sequence positions of ``question``'s tokens in ``input_ids`` (one processed row of
    ``prompt``, image placeholders expanded, maybe left-padded); empty if not found.

    The question is the prompt's last text before the chat template's closing tokens, and
    the image placeholders sit before it, so its tokens keep their distance from the end of
    the sequence when the processor expands the placeholders. They are found by tokenizing
    the rendered ``prompt`` with character offsets (the tokens that overlap the question's
    characters), placed from the end and checked against ``input_ids``. A tokenizer without
    offsets, or a mismatch, falls back to the last occurrence of the question tokenized on
    its own, with and without a leading space (the paper's release does only this).
    """
    ids = [int(token) for token in input_ids]
    question = question.strip()
    label = QA_PROMPT.format(question="")  # the text every prompt style ends with + question
    label = label[label.rfind("Question:") :]
    start = prompt.rfind(label + question)
    start = start + len(label) if start >= 0 else prompt.rfind(question)
    if start >= 0 and question:
        try:
            encoded = tokenizer(prompt, return_offsets_mapping=True)
        except (NotImplementedError, TypeError, ValueError):
            encoded = None
        if encoded is not None:
            tokens, offsets = list(encoded["input_ids"]), encoded["offset_mapping"]
            inside = [
                index
                for index, (first, last) in enumerate(offsets)
                if last > first and last > start and first < start + len(question)
            ]
            if inside and inside == list(range(inside[0], inside[-1] + 1)):
                stop = len(ids) - (len(tokens) - inside[-1] - 1)
                begin = stop - len(inside)
                if begin >= 0 and ids[begin:stop] == tokens[inside[0] : inside[-1] + 1]:
                    return np.arange(begin, stop)
    return _last_occurrence(ids, tokenizer, question)


def _last_occurrence(ids: list[int], tokenizer: Any, question: str) -> np.ndarray:
    for text in (" " + question, question):
        needle = [
            int(token)
            for token in tokenizer(text, add_special_tokens=False)["input_ids"]
            if tokenizer.decode([token], skip_special_tokens=True) != ""
        ]
        for begin in range(len(ids) - len(needle), -1, -1):
            if needle and ids[begin : begin + len(needle)] == needle:
                return np.arange(begin, begin + len(needle))
    return np.arange(0)
