"""The paper's prompts, word for word, and finding the question's tokens in a processed prompt."""

from __future__ import annotations

import pytest

from vea_augment.models import prompting
from vea_augment.models.prompting import question_text, question_token_positions

QUESTION = "What is the shop's name?"
RELEASED_PREFIX = (
    "Directly answer the question based on the image, no explanation is needed. If the image "
    "does not contain any relevant evidence, output \u201cI cannot answer based on the given "
    "image.\u201d "
)


def test_the_prompts_are_the_released_text_curly_quotes_and_all():
    # github.com/ZhiningLiu1998/VEA, vea/config.py: PROMPTS["qa"] and PROMPTS["vea"].
    assert question_text(QUESTION) == RELEASED_PREFIX + "Question: " + QUESTION
    assert question_text(f"  {QUESTION}\n", "vea") == (
        RELEASED_PREFIX + "Only use words from the picture, especially those in the "
        "highlighted region, to answer the question. Question: " + QUESTION
    )


@pytest.mark.parametrize("question", ["", "   "])
def test_an_empty_question_is_refused(question):
    with pytest.raises(ValueError, match="empty"):
        question_text(question)


def test_an_unknown_style_is_refused():
    with pytest.raises(ValueError, match="unknown prompt style"):
        question_text(QUESTION, "inst")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def bpe_tokenizer():
    """A byte-level BPE tokenizer (the GPT-2 / Qwen kind: a leading space belongs to the
    next word), trained here on the prompts, with an image placeholder token."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    texts = [question_text(q, s) for q in (QUESTION, "Which colour?") for s in ("base", "vea")]
    trained = ByteLevelBPETokenizer()
    trained.train_from_iterator(texts * 20, vocab_size=400, min_frequency=1, show_progress=False)
    return PreTrainedTokenizerFast(
        tokenizer_object=trained._tokenizer,
        pad_token="<pad>",
        additional_special_tokens=["<img>", "<|im_start|>", "<|im_end|>"],
    )


def chat(text: str) -> str:
    return f"<|im_start|>user\n<img>{text}<|im_end|>\n<|im_start|>assistant\n"


def expanded(tokenizer, prompt: str, image_tokens: int = 37, padding: int = 5) -> list[int]:
    """What a processor feeds the model: the image placeholder repeated, left padding."""
    image = tokenizer.convert_tokens_to_ids("<img>")
    ids = []
    for token in tokenizer(prompt)["input_ids"]:
        ids.extend([image] * image_tokens if token == image else [token])
    return [tokenizer.pad_token_id] * padding + ids


@pytest.mark.parametrize("style", ["base", "vea"])
@pytest.mark.parametrize("question", [QUESTION, "question: what does it say?", "the image"])
def test_the_question_s_tokens_are_found_after_the_placeholders_expand(
    bpe_tokenizer, style, question, monkeypatch
):
    # Found from the character offsets, not by the fallback search.
    monkeypatch.setattr(prompting, "_last_occurrence", lambda *args: pytest.fail("fallback"))
    prompt = chat(question_text(question, style))
    ids = expanded(bpe_tokenizer, prompt)
    positions = question_token_positions(ids, bpe_tokenizer, prompt, question)
    assert bpe_tokenizer.decode([ids[p] for p in positions]).strip() == question
    # The question words that also occur in the instructions are not taken from there.
    closing = bpe_tokenizer("<|im_end|>\n<|im_start|>assistant\n")["input_ids"]
    assert positions[-1] == len(ids) - 1 - len(closing)


class WithoutOffsets:
    """A tokenizer that cannot report character offsets (a Python, "slow" tokenizer)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, text, return_offsets_mapping=False, **options):
        if return_offsets_mapping:
            raise NotImplementedError("return_offset_mapping is not available")
        return self.tokenizer(text, **options)

    def decode(self, *args, **options):
        return self.tokenizer.decode(*args, **options)


def test_without_offsets_the_last_occurrence_of_the_question_is_used(bpe_tokenizer):
    prompt = chat(question_text(QUESTION))
    ids = expanded(bpe_tokenizer, prompt)
    found = question_token_positions(ids, WithoutOffsets(bpe_tokenizer), prompt, QUESTION)
    assert list(found) == list(question_token_positions(ids, bpe_tokenizer, prompt, QUESTION))


def test_a_question_not_in_the_sequence_gives_no_positions(bpe_tokenizer):
    prompt = chat(question_text(QUESTION))
    ids = expanded(bpe_tokenizer, chat(question_text("Which colour?")))
    assert question_token_positions(ids, bpe_tokenizer, prompt, QUESTION).size == 0
