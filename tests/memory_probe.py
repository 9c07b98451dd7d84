"""Peak host memory of one long prefill, run in its own process (see test_attention_memory.py).

Usage: python memory_probe.py {plain,capture,eager} MODEL_DIR WORDS
Prints one JSON line: the prompt length and the peak-RSS growth (MiB) of the forward pass.
"""

from __future__ import annotations

import json
import resource
import sys

import numpy as np
import torch
from PIL import Image

from vea_augment.attribution.attributor import Attributor
from vea_augment.models.loading import load_model_and_processor
from vea_augment.options import ModelOptions


def peak_mib() -> float:
    """This process's own peak resident memory (VmHWM).

    Not ``ru_maxrss``: a child started by ``subprocess`` inherits its parent's peak there, so
    after a memory-heavy test the growth measured in the child could read as zero.
    """
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(mode: str, directory: str, words: int) -> None:
    torch.manual_seed(0)
    kernel = "eager" if mode == "eager" else "sdpa"
    model, processor = load_model_and_processor(
        directory, ModelOptions(dtype="float32", attn_implementation=kernel)
    )
    attributor = Attributor(model, processor, layers=[0], model_id=directory)
    if mode == "eager":
        model.set_attn_implementation("eager")
    image = Image.fromarray(np.full((64, 64, 3), 128, dtype=np.uint8))
    question = " ".join(["sign"] * words)
    inputs = attributor.encode([image], attributor.prompts([question]))
    layers = list(range(attributor.num_layers))
    baseline = peak_mib()
    with torch.inference_mode():
        if mode == "capture":
            attributor.attribute_batch([image], [question], layers=layers)
        elif mode == "plain":
            model(**inputs, use_cache=False, logits_to_keep=1)
        else:
            model(**inputs, use_cache=False, output_attentions=True, logits_to_keep=1)
    growth = peak_mib() - baseline
    print(json.dumps({"tokens": int(inputs["input_ids"].shape[1]), "growth_mib": growth}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
