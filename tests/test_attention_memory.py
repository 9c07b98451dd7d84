"""Capturing attention costs about what a plain prefill costs, unlike the eager route."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from vea_augment.testing.tiny import build_tiny_checkpoint

PROBE = Path(__file__).with_name("memory_probe.py")


def probe(mode: str, directory: Path, words: int) -> dict[str, float]:
    completed = subprocess.run(
        [sys.executable, str(PROBE), mode, str(directory), str(words)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_capture_peak_memory_stays_near_a_plain_prefill_on_thousands_of_tokens(tmp_path):
    directory = build_tiny_checkpoint("qwen2_vl", tmp_path / "qwen2_vl")
    plain = probe("plain", directory, 3000)
    capture = probe("capture", directory, 3000)
    eager = probe("eager", directory, 3000)
    assert plain["tokens"] == capture["tokens"] >= 3000
    # 4 layers x 4 heads x seq^2 float32 is what eager keeps; capture keeps 4 rows of seq.
    full_maps_mib = 4 * 4 * plain["tokens"] ** 2 * 4 / 2**20
    assert eager["growth_mib"] > 0.5 * full_maps_mib, "the probe must see the eager maps"
    assert capture["growth_mib"] <= plain["growth_mib"] + 0.05 * full_maps_mib + 16, (
        plain,
        capture,
        eager,
    )
