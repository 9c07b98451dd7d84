"""The tiny checkpoints' word-level tokenizer, each family's special tokens and chat template."""

from __future__ import annotations

import re
import string
from typing import Any

QWEN_SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
LLAVA_SPECIAL = ["<pad>", "<s>", "</s>", "<image>"]
INTERNVL_SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<img>",
    "</img>",
    "<IMG_CONTEXT>",
    "<video>",
]
IDEFICS3_SPECIAL = [
    "<pad>",
    "<|im_start|>",
    "<end_of_utterance>",
    "<fake_token_around_image>",
    "<global-img>",
    "<image>",
    "<video>",
    *(f"<row_{row}_col_{col}>" for row in range(1, 7) for col in range(1, 7)),
]
GEMMA3_SPECIAL = [
    "<pad>",
    "<eos>",
    "<bos>",
    "<start_of_turn>",
    "<end_of_turn>",
    "<start_of_image>",
    "<end_of_image>",
    "<image_soft_token>",
]


def _chatml_template(image: str) -> str:
    """The ChatML chat template (``<|im_start|>role ... <|im_end|>``) with ``image`` per image.

    Qwen-VL and InternVL share it and differ only in the image placeholder.
    """
    return (
        "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
        "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
        "{% for item in message['content'] %}"
        "{% if item['type'] == 'image' %}" + image + "{% elif item['type'] == 'text' %}"
        "{{ item['text'] }}{% endif %}{% endfor %}{% endif %}"
        "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )


QWEN_TEMPLATE = _chatml_template("<|vision_start|><|image_pad|><|vision_end|>")
INTERNVL_TEMPLATE = _chatml_template("<IMG_CONTEXT>\n")
LLAVA_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}USER: {% else %}"
    "ASSISTANT: {% endif %}{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}{% if item['type'] == 'image' %}<image>\n"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{% if message['role'] != 'user' %}</s>{% endif %} {% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
IDEFICS3_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}:"
    "{% if message['content'] is string %}{{ ' ' + message['content'] }}{% else %}"
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}<image>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)
GEMMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<start_of_turn>"
    "{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}<start_of_image>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)

# Whole words that get one token each: the prompts' words, then the synthetic corpus's
# (vea_augment.demo.corpus.VOCABULARY). Their order fixes the token ids of saved checkpoints.
_WORDS = [
    "sign", "open", "closed", "shop", "cafe", "what", "is", "the", "a", "of", "on", "in",
    "red", "blue", "green", "name", "written", "which", "colour", "where", "how", "many",
    "directly", "answer", "question", "based", "image", "no", "explanation", "needed",
    "if", "does", "not", "contain", "any", "relevant", "evidence", "output", "i", "cannot",
    "given", "only", "use", "words", "from", "picture", "especially", "those", "highlighted",
    "region", "to", "this", "say", "user", "assistant", "system", "yes",
    "yellow", "purple", "orange", "square", "circle", "triangle", "diamond", "shape",
    "digit", "box", "with",
]  # fmt: skip


def word_tokenizer(
    special: list[str],
    template: str,
    *,
    pad: str,
    eos: str,
    bos: str | None = None,
    named: dict[str, str] | None = None,
) -> Any:
    """A lossless word-level tokenizer for lower-cased ASCII text, plus ``special`` tokens.

    A small list of whole words gets one token each; any other word is split into single
    characters, so every lower-cased ASCII string round-trips without ``<unk>``. With ``bos``
    every encoding starts with it, as LLaVA's Llama tokenizer does. ``named`` gives special
    tokens an attribute name (``{"image_token": "<image>"}`` sets ``tokenizer.image_token``
    and ``tokenizer.image_token_id``), as the families' own tokenizers do.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate([*special, "<unk>"])}
    characters = string.ascii_lowercase + string.digits + string.punctuation + " \n\t"
    for token in _WORDS + list(characters):
        vocab.setdefault(token, len(vocab))
    # Longest first, so that a listed word is never shadowed by a listed prefix of it.
    known = "|".join(re.escape(word) for word in sorted(_WORDS, key=len, reverse=True))
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Split(
        Regex(rf"\b(?:{known})\b|\w|[^\w]"), behavior="isolated"
    )
    tokenizer.decoder = decoders.Fuse()
    if bos is not None:
        tokenizer.post_processor = TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, vocab[bos])]
        )
    named = {**(named or {}), "pad_token": pad, "eos_token": eos, "unk_token": "<unk>"}
    if bos is not None:
        named["bos_token"] = bos
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        additional_special_tokens=[token for token in special if token not in named.values()],
        padding_side="left",
        **named,
    )
    wrapped.chat_template = template
    return wrapped
