"""Spreading one model over the GPUs an actor holds (``--gpus-per-actor`` > 1).

The plan is computed on the meta device (no weight is materialised): accelerate's
``infer_auto_device_map`` with each device's memory budget, never splitting a decoder layer
or a vision block (the model's ``_no_split_modules``). Attribution stops after the deepest
chosen layer, so for it the text config is cut to that many layers first: the layers past
it are neither placed nor loaded (their checkpoint weights are skipped as unused), and the
vision tower, the embeddings and every layer up to the deepest chosen one are.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

import torch

from vea_augment.errors import ConfigError
from vea_augment.options import DEVICE_MEMORY_FRACTION

Device = int | str


def truncated_config(config: Any, keep_layers: int | None) -> Any:
    """A copy of ``config`` whose language model has only its first ``keep_layers`` layers
    (the config itself when ``keep_layers`` is None or not fewer than it has)."""
    text = config.get_text_config()
    if keep_layers is None or keep_layers >= text.num_hidden_layers:
        return config
    if keep_layers < 1:
        raise ConfigError(f"cannot keep {keep_layers} decoder layers")
    config = copy.deepcopy(config)
    text = config.get_text_config()
    text.num_hidden_layers = keep_layers
    if isinstance(getattr(text, "layer_types", None), list):
        text.layer_types = text.layer_types[:keep_layers]
    return config


def device_budgets(fraction: float = DEVICE_MEMORY_FRACTION) -> dict[Device, int]:
    """Bytes of weights each visible device may hold: ``fraction`` of each GPU's free memory
    (the rest is left for activations), or of the host's free memory without a GPU."""
    if torch.cuda.is_available():
        return {
            index: int(torch.cuda.mem_get_info(index)[0] * fraction)
            for index in range(torch.cuda.device_count())
        }
    free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {"cpu": int(free * fraction)}


def empty_model(config: Any, dtype: torch.dtype) -> Any:
    """The model for ``config`` on the meta device: its modules and shapes, no weights."""
    from accelerate import init_empty_weights
    from transformers import AutoModelForImageTextToText

    with init_empty_weights():
        return AutoModelForImageTextToText.from_config(config, dtype=dtype)


def plan_device_map(
    model: Any, max_memory: Mapping[Device, int], dtype: torch.dtype
) -> dict[str, Device]:
    """Where each top-level block of ``model`` (a meta model) goes, within ``max_memory``.

    Fails with a :class:`ConfigError` when the weights do not fit the budgets.
    """
    from accelerate import infer_auto_device_map

    device_map = infer_auto_device_map(
        model,
        max_memory=dict(max_memory),
        no_split_module_classes=sorted(model._no_split_modules or ()),
        dtype=dtype,
    )
    outside = sorted({str(d) for d in device_map.values()} - {str(d) for d in max_memory})
    if outside:
        gib = ", ".join(f"{device}: {size / 2**30:.1f} GiB" for device, size in max_memory.items())
        raise ConfigError(
            f"the model does not fit the devices' memory ({gib}); it would need {outside}: "
            "use more --gpus-per-actor"
        )
    return dict(device_map)


def device_map_for(
    config: Any, dtype: torch.dtype, max_memory: Mapping[Device, int] | None = None
) -> dict[str, Device]:
    """The device map for ``config`` over ``max_memory`` (default: :func:`device_budgets`)."""
    return plan_device_map(empty_model(config, dtype), max_memory or device_budgets(), dtype)


def input_device(model: Any) -> torch.device:
    """Where a model's inputs go: its input embeddings' device (the first of a spread model)."""
    embeddings = model.get_input_embeddings()
    if embeddings is not None and getattr(embeddings, "weight", None) is not None:
        return embeddings.weight.device
    return next(model.parameters()).device
