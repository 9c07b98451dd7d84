"""Tiny offline checkpoints load through the Auto classes and run like the real families.

Each family is built into a temporary directory, loaded with ``AutoProcessor`` and
``AutoModelForImageTextToText``, and fed a chat-template prompt with a real image: the number
of image placeholder tokens must equal the number of image features, single and left-padded
batched forwards must run, and the text model must use grouped-query attention.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from synthetic_images import noise_image
from transformers import AutoModelForImageTextToText, AutoProcessor

from vea_augment.testing.tiny import TINY_FAMILIES, build_tiny_checkpoint

IMAGE_SIZE = 56
LLAVA_PATCH = 14
QUESTION = "What is written on the sign?"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {
        family: build_tiny_checkpoint(family, root / family, image_size=IMAGE_SIZE)
        for family in TINY_FAMILIES
    }


@pytest.fixture(scope="module")
def loaded(checkpoints: dict[str, Path]) -> dict[str, tuple]:
    return {
        family: (
            AutoProcessor.from_pretrained(directory),
            AutoModelForImageTextToText.from_pretrained(directory, dtype=torch.float32).eval(),
        )
        for family, directory in checkpoints.items()
    }


def prompt(processor, question: str = QUESTION) -> str:
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}
    ]
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


#: The image placeholder token of each family whose token is not ``<image>``.
IMAGE_TOKENS = {"gemma3": "<image_soft_token>", "internvl": "<IMG_CONTEXT>"}
#: Families that cut an image into tiles: a 100x80 image takes up to a few hundred tokens.
TILED = {"llava_next", "internvl", "idefics3", "smolvlm"}


def image_token_id(family: str, processor) -> int:
    token = "<|image_pad|>" if family.startswith("qwen") else IMAGE_TOKENS.get(family, "<image>")
    return processor.tokenizer.convert_tokens_to_ids(token)


def features_per_image(family: str, inputs, model, processor, images) -> list[int]:
    """How many image features the vision tower yields for each image of ``inputs``."""
    if family.startswith("qwen"):
        merge = 2
        return [int(grid.prod()) // merge**2 for grid in inputs["image_grid_thw"]]
    if family == "gemma3":
        return [model.config.mm_tokens_per_image] * len(inputs["pixel_values"])
    if family == "llava_next":
        with torch.inference_mode():
            features = model.model.get_image_features(
                pixel_values=inputs["pixel_values"], image_sizes=inputs["image_sizes"]
            ).pooler_output
        return [len(image) for image in features]
    if family == "internvl":
        with torch.inference_mode():
            features = model.model.get_image_features(inputs["pixel_values"]).pooler_output
        tiles = processor.image_processor(images, crop_to_patches=True)["num_patches"]
        assert sum(tiles) == len(features)
        return [count * features.shape[1] for count in tiles]
    if family in ("idefics3", "smolvlm"):
        with torch.inference_mode():
            features = model.model.get_image_features(
                inputs["pixel_values"], inputs["pixel_attention_mask"]
            ).pooler_output
        return [len(image) for image in features]
    return [(IMAGE_SIZE // LLAVA_PATCH) ** 2] * len(inputs["pixel_values"])


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_one_image_gives_as_many_placeholders_as_features_and_runs(loaded, family):
    processor, model = loaded[family]
    text = prompt(processor)
    images = [noise_image(100, 80)]
    inputs = processor(images=images, text=[text], return_tensors="pt")
    placeholders = int((inputs["input_ids"] == image_token_id(family, processor)).sum())
    assert placeholders == sum(features_per_image(family, inputs, model, processor, images))
    limit = 200 if family in TILED else 64
    assert 4 <= placeholders <= limit, "a 100x80 image must stay a few tens of tokens"
    with torch.inference_mode():
        logits = model(**inputs, use_cache=False).logits
    assert logits.shape == (1, inputs["input_ids"].shape[1], model.config.text_config.vocab_size)
    assert logits.dtype == torch.float32
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_a_batch_of_two_image_sizes_is_left_padded_and_runs(loaded, family):
    processor, model = loaded[family]
    texts = [prompt(processor, QUESTION), prompt(processor, "Which colour?")]
    images = [noise_image(100, 80, seed=1), noise_image(60, 110, seed=2)]
    # One list of images per prompt: Gemma-3's processor reads a flat list as one prompt's.
    inputs = processor(
        images=[[image] for image in images], text=texts, padding=True, return_tensors="pt"
    )
    mask = inputs["attention_mask"]
    assert mask[:, -1].all(), "every row must end with a real token (left padding)"
    assert not mask[:, 0].all(), "the shorter prompt must be padded on the left"
    pad_id = processor.tokenizer.pad_token_id
    assert (inputs["input_ids"][mask == 0] == pad_id).all()
    token_id = image_token_id(family, processor)
    counts = (inputs["input_ids"] == token_id).sum(dim=1).tolist()
    assert counts == features_per_image(family, inputs, model, processor, images)
    with torch.inference_mode():
        logits = model(**inputs, use_cache=False).logits
    assert logits.shape[:2] == inputs["input_ids"].shape
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_config_uses_grouped_query_attention_and_the_tokenizer_ids(loaded, family):
    processor, model = loaded[family]
    config, tokenizer = model.config, processor.tokenizer
    text = config.text_config
    assert text.num_key_value_heads < text.num_attention_heads
    assert text.num_attention_heads % text.num_key_value_heads == 0
    assert (text.num_hidden_layers, text.hidden_size) == (4, 64)
    assert text.vocab_size >= len(tokenizer)
    assert tokenizer.padding_side == "left"
    assert text.pad_token_id == tokenizer.pad_token_id
    if family.startswith("qwen"):
        for field, token in {
            "image_token_id": "<|image_pad|>",
            "video_token_id": "<|video_pad|>",
            "vision_start_token_id": "<|vision_start|>",
            "vision_end_token_id": "<|vision_end|>",
        }.items():
            assert getattr(config, field) == tokenizer.convert_tokens_to_ids(token)
        head_dim = text.hidden_size // text.num_attention_heads
        assert sum(text.rope_parameters["mrope_section"]) == head_dim // 2
    elif family in ("idefics3", "smolvlm"):
        assert config.image_token_id == tokenizer.convert_tokens_to_ids("<image>")
        vision = config.vision_config
        tokens = (vision.image_size // vision.patch_size // config.scale_factor) ** 2
        assert processor.image_seq_len == tokens
    elif family == "internvl":
        assert config.image_token_id == tokenizer.context_image_token_id
        assert processor.image_seq_length == config.image_seq_length
    elif family == "gemma3":
        assert config.image_token_id == tokenizer.image_token_id
        assert config.boi_token_id == tokenizer.boi_token_id == processor.image_token_id
        assert config.eoi_token_id == tokenizer.convert_tokens_to_ids(tokenizer.eoi_token)
        assert processor.image_seq_length == config.mm_tokens_per_image
    else:
        assert config.image_token_id == tokenizer.convert_tokens_to_ids("<image>")
        assert processor.patch_size == config.vision_config.patch_size
        assert processor.vision_feature_select_strategy == config.vision_feature_select_strategy


def test_qwen_chat_template_matches_the_released_layout(loaded):
    processor, _ = loaded["qwen2_vl"]
    assert prompt(processor, "Hi") == (
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Hi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_llava_chat_template_and_bos(loaded):
    processor, _ = loaded["llava"]
    text = prompt(processor, "Hi")
    assert text == "USER: <image>\nHi ASSISTANT:"
    ids = processor.tokenizer(text)["input_ids"]
    assert ids[0] == processor.tokenizer.bos_token_id


@pytest.mark.parametrize("family", ["qwen2_vl", "llava"])
def test_tokenizer_round_trips_ascii_text_without_unknown_tokens(loaded, family):
    tokenizer = loaded[family][0].tokenizer
    text = "Zebra crossing #42: 'STOP' here?\tyes!"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids) == text.lower()


def test_llava_pad_variant_pads_to_a_mean_colour_square_before_resizing(loaded):
    image = noise_image(100, 80)
    cropped = loaded["llava"][0].image_processor(image, return_tensors="pt")["pixel_values"]
    padded = loaded["llava_pad"][0].image_processor(image, return_tensors="pt")["pixel_values"]
    assert cropped.shape == padded.shape == (1, 3, IMAGE_SIZE, IMAGE_SIZE)
    # The mean colour normalises to about zero: the pad bands (top and bottom of a wide
    # image) are flat, while the centre-cropped variant is noise right up to the edge.
    assert padded[0, :, 0, :].abs().max() < 0.05
    assert cropped[0, :, 0, :].abs().max() > 0.5


def test_same_seed_gives_identical_weights_and_another_seed_does_not(tmp_path):
    first = build_tiny_checkpoint("qwen2_vl", tmp_path / "a", seed=3)
    second = build_tiny_checkpoint("qwen2_vl", tmp_path / "b", seed=3)
    third = build_tiny_checkpoint("qwen2_vl", tmp_path / "c", seed=4)
    weights = [load_file(path / "model.safetensors") for path in (first, second, third)]
    assert all(tensor.dtype == torch.float32 for tensor in weights[0].values())
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])
    assert not all(torch.equal(weights[0][name], weights[2][name]) for name in weights[0])


def test_max_pixels_bounds_qwen_image_tokens(tmp_path):
    directory = build_tiny_checkpoint("qwen2_5_vl", tmp_path / "q", max_pixels=28 * 28 * 4)
    processor = AutoProcessor.from_pretrained(directory)
    inputs = processor(
        images=[noise_image(300, 200)], text=[prompt(processor)], return_tensors="pt"
    )
    assert int(inputs["image_grid_thw"][0].prod()) // 4 <= 4


def test_unknown_family_names_the_supported_ones(tmp_path):
    with pytest.raises(ValueError, match=r"qwen2_vl.*llava_pad"):
        build_tiny_checkpoint("paligemma", tmp_path)


def test_equal_heads_are_refused(tmp_path):
    with pytest.raises(ValueError, match="grouped-query"):
        build_tiny_checkpoint("llava", tmp_path, num_heads=4, num_kv_heads=4)
