"""--gpus-per-actor's model placement: the device map planned on the meta device for
Qwen2.5-VL-7B's architecture over 2 and 4 fake GPUs, and the spread loading path on CPU."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from synthetic_images import noise_image

from vea_augment.attribution import Attributor
from vea_augment.models.placement import empty_model, plan_device_map, truncated_config
from vea_augment.options import ModelOptions

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
from attribution_benchmark.architectures import qwen25_vl_7b_config

GIB = 2**30
IDS = SimpleNamespace(
    text_config=SimpleNamespace(pad_token_id=0, eos_token_id=1),
    image_token_id=10,
    video_token_id=11,
    vision_start_token_id=12,
    vision_end_token_id=13,
)
LAYERS = "model.language_model.layers."


@pytest.fixture(scope="module")
def config():
    return qwen25_vl_7b_config(IDS)


def sizes(model) -> dict[str, int]:
    from accelerate.utils import compute_module_sizes

    return compute_module_sizes(model, dtype=torch.bfloat16)


def placed_on(device_map: dict, name: str):
    """The device of module ``name``: its own entry or its closest placed parent's."""
    parts = name.split(".")
    for end in range(len(parts), -1, -1):
        prefix = ".".join(parts[:end])
        if prefix in device_map:
            return device_map[prefix]
    return None


@pytest.mark.parametrize(("gpus", "budget_gib", "deepest"), [(2, 9, 27), (2, 7, 13), (4, 4, 20)])
def test_the_meta_plan_places_whole_layers_up_to_the_deepest_within_budget(
    config, gpus, budget_gib, deepest
):
    cut = truncated_config(config, deepest + 1)
    model = empty_model(cut, torch.bfloat16)
    assert next(model.parameters()).device.type == "meta"
    assert len(model.model.language_model.layers) == deepest + 1
    budget = {index: budget_gib * GIB for index in range(gpus)}
    device_map = plan_device_map(model, budget, torch.bfloat16)

    assert set(device_map.values()) <= set(budget)
    # Every parameter up to the deepest layer, the embeddings and the vision tower are placed.
    for name, _ in model.named_parameters():
        assert placed_on(device_map, name) in budget, name
    assert placed_on(device_map, "model.visual.blocks.0.attn.qkv.weight") in budget
    assert placed_on(device_map, "model.language_model.embed_tokens.weight") in budget
    # No layer past the deepest exists, hence none is placed.
    assert not any(key.startswith(f"{LAYERS}{deepest + 1}") for key in device_map)
    # Decoder layers are never split: each is one entry (or lies inside one).
    for key in device_map:
        if key.startswith(LAYERS):
            assert key.removeprefix(LAYERS).isdigit(), key
    # Memory per device within the budget.
    module_sizes = sizes(model)
    used = dict.fromkeys(budget, 0)
    for key, device in device_map.items():
        used[device] += module_sizes[key]
    assert all(used[d] <= budget[d] for d in budget), used
    assert len({d for d in device_map.values()}) >= 2  # 7B in bf16 needs more than one


def test_answering_places_every_layer_and_a_too_small_budget_is_refused(config):
    from vea_augment.errors import ConfigError

    model = empty_model(config, torch.bfloat16)
    device_map = plan_device_map(model, {i: 6 * GIB for i in range(4)}, torch.bfloat16)
    assert {f"{LAYERS}{i}" for i in range(28)} <= set(device_map)
    assert "lm_head" in device_map
    with pytest.raises(ConfigError, match="does not fit"):
        plan_device_map(model, {0: 2 * GIB, 1: 2 * GIB}, torch.bfloat16)


def test_spread_loading_on_cpu_keeps_only_the_chosen_layers_and_the_same_rows(tmp_path):
    from vea_augment.testing.tiny import build_tiny_checkpoint

    directory = build_tiny_checkpoint("qwen2_5_vl", tmp_path / "qwen2_5_vl")
    plain = Attributor.from_pretrained(directory, [1, 2], ModelOptions(dtype="float32"))
    spread = Attributor.from_pretrained(
        directory,
        [1, 2],
        ModelOptions(dtype="float32", device_map="auto"),
        only_chosen_layers=True,
    )
    assert {p.device.type for p in spread.model.parameters()} == {"cpu"}
    assert spread.num_layers == 3 < plain.num_layers
    assert spread.device == torch.device("cpu")
    image = noise_image(80, 64, 5)
    want = plain.attribute(image, "Where?")
    got = spread.attribute(image, "Where?")
    for layer in (1, 2):
        np.testing.assert_allclose(
            got.layer_views[layer][0].scores, want.layer_views[layer][0].scores, rtol=1e-6
        )
