"""The paper's prompts, and rendering them with a model's own chat template."""

from __future__ import annotations

from typing import Any, Literal

QA_PROMPT = (
    "Directly answer the question based on the image, no explanation is needed. "
    'If the image does not contain any relevant evidence, output "I cannot answer based on '
    'the given image." Question: {question}'
)
VEA_INSTRUCTION = (
    "Only use words from the picture, especially those in the highlighted region, "
    "to answer the question."
)

PromptStyle = Literal["base", "vea"]


def question_text(question: str, style: PromptStyle = "base") -> str:
    """The user text of the base QA prompt, or of the VEA prompt (base + instruction)."""
    if not question.strip():
        raise ValueError("the question is empty")
    text = QA_PROMPT.format(question=question.strip())
    if style == "vea":
        return f"{text} {VEA_INSTRUCTION}"
    if style != "base":
        raise ValueError(f"unknown prompt style {style!r}; use 'base' or 'vea'")
    return text


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
