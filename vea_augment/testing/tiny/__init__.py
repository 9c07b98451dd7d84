"""Tiny random-weight checkpoints of real VLM classes, built offline for tests and benchmarks.

Each checkpoint is a real transformers model class (``Qwen2VLForConditionalGeneration``,
``LlavaForConditionalGeneration``, ``Gemma3ForConditionalGeneration``,
``LlavaNextForConditionalGeneration``, ``InternVLForConditionalGeneration``,
``Idefics3ForConditionalGeneration``, ``SmolVLMForConditionalGeneration``, ...) with tiny
dimensions, a real processor of the family and a word-level tokenizer carrying the family's
special tokens and a chat template. It is saved with ``save_pretrained``, so the same
``from_pretrained`` code that loads a hub model loads it. Grouped-query attention is on (fewer
key/value heads than query heads).
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import torch

TINY_FAMILIES: tuple[str, ...] = (
    "qwen2_vl",
    "qwen2_5_vl",
    "qwen3_vl",
    "llava",
    "llava_pad",
    "gemma3",
    "llava_next",
    "internvl",
    "idefics3",
    "smolvlm",
)

#: InternVL's tiny maximum number of tiles (the released processors allow 12).
INTERNVL_MAX_TILES = 6
#: Gemma-3's tiny sliding window, in tokens: shorter than the VQA prompt.
GEMMA3_SLIDING_WINDOW = 96

_QWEN_SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
_LLAVA_SPECIAL = ["<pad>", "<s>", "</s>", "<image>"]
_INTERNVL_SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<img>",
    "</img>",
    "<IMG_CONTEXT>",
    "<video>",
]
_IDEFICS3_SPECIAL = [
    "<pad>",
    "<|im_start|>",
    "<end_of_utterance>",
    "<fake_token_around_image>",
    "<global-img>",
    "<image>",
    "<video>",
    *(f"<row_{row}_col_{col}>" for row in range(1, 7) for col in range(1, 7)),
]
_GEMMA3_SPECIAL = [
    "<pad>",
    "<eos>",
    "<bos>",
    "<start_of_turn>",
    "<end_of_turn>",
    "<start_of_image>",
    "<end_of_image>",
    "<image_soft_token>",
]

_QWEN_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_LLAVA_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}USER: {% else %}"
    "ASSISTANT: {% endif %}{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}{% if item['type'] == 'image' %}<image>\n"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{% if message['role'] != 'user' %}</s>{% endif %} {% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
_INTERNVL_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<IMG_CONTEXT>\n"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_IDEFICS3_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}:"
    "{% if message['content'] is string %}{{ ' ' + message['content'] }}{% else %}"
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}<image>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)
_GEMMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<start_of_turn>"
    "{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}<start_of_image>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def _word_tokenizer(
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
    import re

    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    words = [
        "sign", "open", "closed", "shop", "cafe", "what", "is", "the", "a", "of", "on", "in",
        "red", "blue", "green", "name", "written", "which", "colour", "where", "how", "many",
        "directly", "answer", "question", "based", "image", "no", "explanation", "needed",
        "if", "does", "not", "contain", "any", "relevant", "evidence", "output", "i", "cannot",
        "given", "only", "use", "words", "from", "picture", "especially", "those", "highlighted",
        "region", "to", "this", "say", "user", "assistant", "system", "yes",
        # The synthetic corpus (vea_augment.demo.corpus.VOCABULARY): one token per word.
        "yellow", "purple", "orange", "square", "circle", "triangle", "diamond", "shape",
        "digit", "box", "with",
    ]  # fmt: skip
    vocab = {token: index for index, token in enumerate([*special, "<unk>"])}
    characters = string.ascii_lowercase + string.digits + string.punctuation + " \n\t"
    for token in words + list(characters):
        vocab.setdefault(token, len(vocab))
    # Longest first, so that a listed word is never shadowed by a listed prefix of it.
    known = "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
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


def _text_dims(num_layers: int, num_heads: int, num_kv_heads: int, hidden_size: int) -> dict:
    """Text-model config fields; refuses head counts that would not be grouped-query attention."""
    if num_kv_heads >= num_heads or num_heads % num_kv_heads:
        raise ValueError("tiny models use grouped-query attention: num_kv_heads < num_heads")
    return {
        "hidden_size": hidden_size,
        "intermediate_size": 2 * hidden_size,
        "num_hidden_layers": num_layers,
        "num_attention_heads": num_heads,
        "num_key_value_heads": num_kv_heads,
        "max_position_embeddings": 16384,
    }


def _mrope_section(head_dim: int, *, interleaved: bool) -> list[int]:
    """Temporal, height and width rotary pairs summing to ``head_dim // 2``.

    The split keeps the released proportions: Qwen2/2.5-VL use [16, 24, 24] of 64 pairs
    (contiguous blocks), Qwen3-VL uses [24, 20, 20] of 64 (interleaved, where height and width
    take every third pair, so each may hold at most a third of the pairs).
    """
    pairs = head_dim // 2
    if interleaved:
        height = width = pairs * 5 // 16
        return [pairs - height - width, height, width]
    temporal = pairs // 4
    height = (pairs - temporal) // 2
    return [temporal, height, pairs - temporal - height]


def _qwen(family: str, dims: dict, max_pixels: int | None) -> tuple[Any, Any]:
    """Config and processor of a Qwen-VL ``family`` whose token ids match its tokenizer."""
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLProcessor,
        Qwen2VLConfig,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
        Qwen3VLConfig,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    tokenizer = _word_tokenizer(
        _QWEN_SPECIAL, _QWEN_TEMPLATE, pad="<|endoftext|>", eos="<|im_end|>"
    )
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in _QWEN_SPECIAL}
    head_dim = dims["hidden_size"] // dims["num_attention_heads"]
    mrope = _mrope_section(head_dim, interleaved=family == "qwen3_vl")
    patch = 16 if family == "qwen3_vl" else 14
    pixels = max_pixels or (patch * 2) ** 2 * 64
    size = {"shortest_edge": (patch * 2) ** 2 * 4, "longest_edge": pixels}
    # Qwen3-VL normalises to [-1, 1]; Qwen2/2.5-VL keep the CLIP statistics.
    stats = {"image_mean": [0.5] * 3, "image_std": [0.5] * 3} if family == "qwen3_vl" else {}
    image_processor = Qwen2VLImageProcessor(patch_size=patch, merge_size=2, size=size, **stats)
    text = {
        **dims,
        "vocab_size": len(tokenizer),
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope},
        "pad_token_id": ids["<|endoftext|>"],
        "bos_token_id": None,
        "eos_token_id": ids["<|im_end|>"],
    }
    vision: dict[str, Any] = {"depth": 2, "num_heads": 2, "patch_size": patch}
    token_ids = {
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
    }
    if family == "qwen2_vl":
        vision.update(embed_dim=32, hidden_size=dims["hidden_size"], mlp_ratio=2)
        config = Qwen2VLConfig(text_config=text, vision_config=vision, **token_ids)
        processor_class, video = Qwen2VLProcessor, Qwen2VLVideoProcessor
    elif family == "qwen2_5_vl":
        vision.update(
            hidden_size=32,
            intermediate_size=64,
            out_hidden_size=dims["hidden_size"],
            window_size=56,
            fullatt_block_indexes=[1],
        )
        config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, **token_ids)
        processor_class, video = Qwen2_5_VLProcessor, Qwen2VLVideoProcessor
    else:
        text["head_dim"] = head_dim
        text["rope_parameters"]["mrope_interleaved"] = True
        vision.update(
            hidden_size=32,
            intermediate_size=64,
            out_hidden_size=dims["hidden_size"],
            num_position_embeddings=64,
            deepstack_visual_indexes=[0],
        )
        config = Qwen3VLConfig(text_config=text, vision_config=vision, **token_ids)
        processor_class, video = Qwen3VLProcessor, Qwen3VLVideoProcessor
    video_processor = video(patch_size=patch, merge_size=2, **stats)
    processor = processor_class(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=tokenizer.chat_template,
    )
    return config, processor


def _clip_and_llama(
    dims: dict[str, Any], tokenizer: Any, image_size: int, patch: int
) -> tuple[Any, Any]:
    """The tiny CLIP vision tower and Llama text model the LLaVA families share."""
    from transformers import CLIPVisionConfig, LlamaConfig

    vision = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=image_size,
        patch_size=patch,
        projection_dim=32,
    )
    text = LlamaConfig(
        **dims,
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.convert_tokens_to_ids("<s>"),
        eos_token_id=tokenizer.convert_tokens_to_ids("</s>"),
    )
    return vision, text


def _llava(pad_to_square: bool, dims: dict, image_size: int) -> tuple[Any, Any]:
    """Config and processor of LLaVA-1.5 (centre crop, or pad to square) at ``image_size``."""
    from transformers import (
        CLIPImageProcessor,
        LlavaConfig,
        LlavaImageProcessor,
        LlavaProcessor,
    )

    tokenizer = _word_tokenizer(_LLAVA_SPECIAL, _LLAVA_TEMPLATE, pad="<pad>", eos="</s>", bos="<s>")
    patch = 14
    vision, text = _clip_and_llama(dims, tokenizer, image_size, patch)
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )
    geometry: dict[str, Any] = {
        "size": {"shortest_edge": image_size},
        "crop_size": {"height": image_size, "width": image_size},
        "do_center_crop": True,
    }
    # CLIPImageProcessor's own do_pad pads a batch to its largest size after resizing; LLaVA's
    # pad variant (expand2square: centre the image on a mean-colour square before resizing)
    # is LlavaImageProcessor(do_pad=True).
    if pad_to_square:
        image_processor = LlavaImageProcessor(**geometry, do_pad=True)
    else:
        image_processor = CLIPImageProcessor(**geometry)
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=tokenizer.chat_template,
    )
    return config, processor


def _llava_next(dims: dict) -> tuple[Any, Any]:
    """Config and processor of LLaVA-NeXT: 42-px CLIP tiles (6 × 6 patches) on anyres grids.

    The grid pinpoints are the released ones (336-px tiles: 1×2, 2×1, 2×2, 1×3, 3×1) scaled to
    the tiny tile side.
    """
    from transformers import (
        LlavaNextConfig,
        LlavaNextImageProcessor,
        LlavaNextProcessor,
    )

    tokenizer = _word_tokenizer(_LLAVA_SPECIAL, _LLAVA_TEMPLATE, pad="<pad>", eos="</s>", bos="<s>")
    tile, patch = 42, 7
    pinpoints = [[tile * h, tile * w] for h, w in ((1, 2), (2, 1), (2, 2), (3, 1), (1, 3))]
    vision, text = _clip_and_llama(dims, tokenizer, tile, patch)
    config = LlavaNextConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_grid_pinpoints=pinpoints,
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )
    image_processor = LlavaNextImageProcessor(
        size={"shortest_edge": tile},
        crop_size={"height": tile, "width": tile},
        image_grid_pinpoints=pinpoints,
    )
    processor = LlavaNextProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=tokenizer.chat_template,
    )
    return config, processor


def _internvl(dims: dict) -> tuple[Any, Any]:
    """Config and processor of InternVL (transformers-native, InternVL3 layout).

    32-px tiles of 8 × 8 patches, pixel-shuffled (``downsample_ratio`` 0.5) to 4 × 4 tokens;
    up to ``INTERNVL_MAX_TILES`` tiles chosen by aspect ratio, plus the thumbnail.
    """
    from transformers import (
        GotOcr2ImageProcessor,
        InternVLConfig,
        InternVLProcessor,
        InternVLVideoProcessor,
    )

    named = {
        "start_image_token": "<img>",
        "end_image_token": "</img>",
        "context_image_token": "<IMG_CONTEXT>",
        "video_token": "<video>",
    }
    tokenizer = _word_tokenizer(
        _INTERNVL_SPECIAL, _INTERNVL_TEMPLATE, pad="<|endoftext|>", eos="<|im_end|>", named=named
    )
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in _INTERNVL_SPECIAL}
    tile, patch, ratio = 32, 4, 0.5
    tokens_per_tile = int((tile // patch * ratio) ** 2)
    text = {
        **dims,
        "model_type": "qwen2",
        "vocab_size": len(tokenizer),
        "pad_token_id": ids["<|endoftext|>"],
        "bos_token_id": None,
        "eos_token_id": ids["<|im_end|>"],
    }
    vision = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": [tile, tile],
        "patch_size": [patch, patch],
    }
    config = InternVLConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=ids["<IMG_CONTEXT>"],
        image_seq_length=tokens_per_tile,
        downsample_ratio=ratio,
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
    )
    size = {"height": tile, "width": tile}
    image_processor = GotOcr2ImageProcessor(
        size=size,
        crop_to_patches=True,
        min_patches=1,
        max_patches=INTERNVL_MAX_TILES,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    processor = InternVLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=InternVLVideoProcessor(size=size),
        image_seq_length=tokens_per_tile,
        chat_template=tokenizer.chat_template,
    )
    return config, processor


def _idefics3(family: str, dims: dict) -> tuple[Any, Any]:
    """Config and processor of Idefics3 or SmolVLM: image splitting into 32-px squares.

    The processor resizes the longest edge to ``3 × 32`` px (the released ones use 4 × 364 and
    4 × 512), splits it into up to 3 × 3 squares of 8 × 8 patches and adds the global image;
    the connector pixel-shuffles each square (scale factor 2) to 4 × 4 tokens.
    """
    from transformers import (
        Idefics3Config,
        Idefics3ImageProcessor,
        Idefics3Processor,
        SmolVLMConfig,
        SmolVLMImageProcessor,
        SmolVLMProcessor,
        SmolVLMVideoProcessor,
    )

    named = {
        "fake_image_token": "<fake_token_around_image>",
        "image_token": "<image>",
        "global_image_token": "<global-img>",
        "end_of_utterance_token": "<end_of_utterance>",
        "video_token": "<video>",
    }
    tokenizer = _word_tokenizer(
        _IDEFICS3_SPECIAL, _IDEFICS3_TEMPLATE, pad="<pad>", eos="<end_of_utterance>", named=named
    )
    square, patch, scale = 32, 4, 2
    tokens_per_square = (square // patch // scale) ** 2
    text = {
        **dims,
        "model_type": "llama",
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": None,
        "eos_token_id": tokenizer.convert_tokens_to_ids("<end_of_utterance>"),
    }
    vision = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": square,
        "patch_size": patch,
    }
    geometry = {
        "size": {"longest_edge": 3 * square},
        "max_image_size": {"longest_edge": square},
        "do_image_splitting": True,
    }
    common = {"image_token_id": tokenizer.convert_tokens_to_ids("<image>"), "scale_factor": scale}
    if family == "idefics3":
        config = Idefics3Config(vision_config=vision, text_config=text, **common)
        processor = Idefics3Processor(
            image_processor=Idefics3ImageProcessor(**geometry),
            tokenizer=tokenizer,
            image_seq_len=tokens_per_square,
            chat_template=tokenizer.chat_template,
        )
    else:
        config = SmolVLMConfig(vision_config=vision, text_config=text, **common)
        processor = SmolVLMProcessor(
            image_processor=SmolVLMImageProcessor(**geometry),
            tokenizer=tokenizer,
            video_processor=SmolVLMVideoProcessor(
                size={"longest_edge": 3 * square}, max_image_size={"longest_edge": square}
            ),
            image_seq_len=tokens_per_square,
            chat_template=tokenizer.chat_template,
        )
    return config, processor


def _gemma3(dims: dict) -> tuple[Any, Any]:
    """Config and processor of Gemma-3: a 48-px square SigLIP view pooled to 6 × 6 tokens.

    Like the released models the attention scale is ``query_pre_attn_scalar ** -0.5`` with
    ``query_pre_attn_scalar != head_dim``, and sliding-window layers alternate with global ones;
    the window (``GEMMA3_SLIDING_WINDOW`` tokens) is shorter than a VQA prompt, so the last
    token of a sliding layer sees only part of the image.
    """
    from transformers import Gemma3Config, Gemma3ImageProcessor, Gemma3Processor

    named = {
        "bos_token": "<bos>",
        "boi_token": "<start_of_image>",
        "eoi_token": "<end_of_image>",
        "image_token": "<image_soft_token>",
    }
    tokenizer = _word_tokenizer(
        _GEMMA3_SPECIAL, _GEMMA3_TEMPLATE, pad="<pad>", eos="<end_of_turn>", named=named
    )
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in _GEMMA3_SPECIAL}
    head_dim = dims["hidden_size"] // dims["num_attention_heads"]
    layers = dims["num_hidden_layers"]
    text = {
        **dims,
        "head_dim": head_dim,
        "query_pre_attn_scalar": head_dim + 8,
        "sliding_window": GEMMA3_SLIDING_WINDOW,
        "layer_types": [
            "full_attention" if index % 2 else "sliding_attention" for index in range(layers)
        ],
        "vocab_size": len(tokenizer),
        "pad_token_id": ids["<pad>"],
        "bos_token_id": ids["<bos>"],
        "eos_token_id": ids["<end_of_turn>"],
    }
    image_size, patch, tokens_per_side = 48, 4, 6
    vision = {
        "model_type": "siglip_vision_model",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": image_size,
        "patch_size": patch,
        "vision_use_head": False,
    }
    config = Gemma3Config(
        text_config=text,
        vision_config=vision,
        mm_tokens_per_image=tokens_per_side**2,
        boi_token_index=ids["<start_of_image>"],
        eoi_token_index=ids["<end_of_image>"],
        image_token_index=ids["<image_soft_token>"],
    )
    image_processor = Gemma3ImageProcessor(
        size={"height": image_size, "width": image_size},
        image_mean=[0.5] * 3,
        image_std=[0.5] * 3,
    )
    processor = Gemma3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        chat_template=tokenizer.chat_template,
        image_seq_length=tokens_per_side**2,
    )
    return config, processor


def _randomize_zero_initialised(model: Any, family: str) -> None:
    """Draw the weights a family initialises to zero, which would make every image token equal.

    Gemma-3's projector starts as a zero matrix (it is learned from scratch), so a fresh tiny
    model would map every image to zeros and no test could see its geometry.
    """
    if family == "gemma3":
        weight = model.model.multi_modal_projector.mm_input_projection_weight
        with torch.no_grad():
            weight.normal_(std=weight.shape[0] ** -0.5)


def build_tiny_checkpoint(
    family: str,
    directory: str | Path,
    *,
    seed: int = 0,
    num_layers: int = 4,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    hidden_size: int = 64,
    image_size: int = 56,
    max_pixels: int | None = None,
    vision_overrides: dict[str, Any] | None = None,
) -> Path:
    """Build and save a tiny ``family`` checkpoint in ``directory``; return the directory.

    ``vision_overrides`` replaces vision-config fields (e.g. a wider Qwen2-VL vision tower
    for the bundled demo model: ``{"embed_dim": 128, "num_heads": 4}``).

    Weights are drawn from ``seed``, so two builds with the same arguments are identical.
    ``image_size`` is LLaVA-1.5's square input side; ``max_pixels`` bounds Qwen's resize. The
    other families have fixed tiny geometries (their builders say which): Gemma-3 (48-px
    square, pan-and-scan available), LLaVA-NeXT (42-px anyres tiles), InternVL (32-px tiles),
    Idefics3 and SmolVLM (32-px squares).
    """
    from transformers import AutoModelForImageTextToText

    if family not in TINY_FAMILIES:
        raise ValueError(f"unknown tiny family {family!r}; supported: {', '.join(TINY_FAMILIES)}")
    dims = _text_dims(num_layers, num_heads, num_kv_heads, hidden_size)
    if family.startswith("qwen"):
        config, processor = _qwen(family, dims, max_pixels)
    elif family == "gemma3":
        config, processor = _gemma3(dims)
    elif family == "llava_next":
        config, processor = _llava_next(dims)
    elif family == "internvl":
        config, processor = _internvl(dims)
    elif family in ("idefics3", "smolvlm"):
        config, processor = _idefics3(family, dims)
    else:
        config, processor = _llava(family == "llava_pad", dims, image_size)
    for field_name, value in (vision_overrides or {}).items():
        if not hasattr(config.vision_config, field_name):
            raise ValueError(f"{family}'s vision config has no field {field_name!r}")
        setattr(config.vision_config, field_name, value)
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config, dtype=torch.float32)
    _randomize_zero_initialised(model, family)
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    processor.save_pretrained(target)
    return target
