"""Loading a VLM and its processor from a hub id or a local directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vea_augment.errors import ConfigError
from vea_augment.options import ModelOptions

DTYPES = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "auto": "auto",
}


def resolve_dtype(name: str, device: str) -> Any:
    """The torch dtype for ``name``; ``auto`` is bfloat16 on CUDA and float32 on CPU."""
    if name not in DTYPES:
        raise ConfigError(f"unknown dtype {name!r}; choose one of {sorted(DTYPES)}")
    if name == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return DTYPES[name]


def load_model_and_processor(
    model_id: str | Path, options: ModelOptions | None = None, keep_layers: int | None = None
) -> tuple[Any, Any]:
    """``(model, processor)`` via ``AutoModelForImageTextToText`` / ``AutoProcessor``.

    ``model_id`` is a hub id (``Qwen/Qwen2.5-VL-7B-Instruct``) or a local directory. The
    tokenizer pads on the left, which batched last-token attribution requires. With
    ``options.device_map`` set the model is spread over the visible devices, and
    ``keep_layers`` (attribution: the deepest chosen layer + 1) cuts the language model to
    its first layers, so the rest are never placed (``models/placement.py``).
    """
    from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor

    from vea_augment.models.placement import device_map_for, truncated_config

    options = options or ModelOptions()
    device = options.resolved_device()
    source = str(model_id)
    if source.startswith((".", "/")) and not Path(source).is_dir():
        raise ConfigError(f"model directory {source!r} does not exist")
    common = {
        "trust_remote_code": options.trust_remote_code,
        "local_files_only": options.local_files_only,
        "revision": options.revision,
    }
    dtype = resolve_dtype(options.dtype, device)
    try:
        processor = AutoProcessor.from_pretrained(source, **common)
        placed: dict[str, Any] = {}
        if options.device_map is not None:
            config = truncated_config(AutoConfig.from_pretrained(source, **common), keep_layers)
            placed = {"config": config, "device_map": device_map_for(config, dtype)}
        model = AutoModelForImageTextToText.from_pretrained(
            source,
            dtype=dtype,
            attn_implementation=options.attn_implementation,
            **placed,
            **common,
        )
    except OSError as error:
        raise ConfigError(f"cannot load model {source!r}: {error}") from error
    set_processor_pixels(processor, options.min_pixels, options.max_pixels)
    if not placed:
        model.to(device)
    model.eval()
    tokenizer = getattr(processor, "tokenizer", None)
    if tokenizer is not None:
        tokenizer.padding_side = "left"
    return model, processor


_PIXEL_SIZE_KEYS = {"min_pixels": "shortest_edge", "max_pixels": "longest_edge"}


def set_processor_pixels(processor: Any, min_pixels: int | None, max_pixels: int | None) -> None:
    """Set a Qwen-style image processor's pixel budget (``min_pixels``/``max_pixels``).

    Both None leaves the checkpoint's own. A processor without those attributes is a
    ConfigError naming its class (its image size is set some other way).
    """
    wanted = {"min_pixels": min_pixels, "max_pixels": max_pixels}
    wanted = {name: value for name, value in wanted.items() if value is not None}
    if not wanted:
        return
    image_processor = getattr(processor, "image_processor", processor)
    size = getattr(image_processor, "size", None)

    def in_size(name: str) -> int | None:  # a dict, or transformers' SizeDict
        key = _PIXEL_SIZE_KEYS[name]
        return size.get(key) if isinstance(size, dict) else getattr(size, key, None)

    def has(name: str) -> bool:
        return hasattr(image_processor, name) or in_size(name) is not None

    def current(name: str) -> int | None:
        return getattr(image_processor, name, None) or in_size(name)

    missing = [name for name in wanted if not has(name)]
    if missing:
        raise ConfigError(
            f"--{missing[0].replace('_', '-')} needs a Qwen-style image processor with "
            f"min_pixels/max_pixels; {type(image_processor).__name__} has none"
        )
    low = wanted.get("min_pixels", current("min_pixels"))
    high = wanted.get("max_pixels", current("max_pixels"))
    if low is not None and high is not None and low > high:
        raise ConfigError(f"min_pixels {low} is above max_pixels {high}")
    for name, value in wanted.items():
        if hasattr(image_processor, name):
            setattr(image_processor, name, value)
        if in_size(name) is not None:
            if isinstance(size, dict):
                size[_PIXEL_SIZE_KEYS[name]] = value
            else:
                setattr(size, _PIXEL_SIZE_KEYS[name], value)
