"""`benchmarks/gpu.sh` is ready for a GPU machine: its dry run takes the same steps on the
CPU with the tiny model and writes a benchmark section, and without a GPU the real run says
how to check it instead of failing somewhere inside."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.sh"


def run_script(*arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHON": sys.executable}
    return subprocess.run(
        ["bash", str(SCRIPT), *arguments],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
    )


def test_the_dry_run_writes_a_benchmark_section_for_every_route(tmp_path):
    output = tmp_path / "BENCHMARKS.md"
    result = run_script("--dry-run", str(output))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    text = output.read_text(encoding="utf-8")
    assert "<!-- attribution-bench:" in text and "<!-- /attribution-bench:" in text
    for route in ("eager", "attribution", "attribution_batched", "pipeline"):
        assert f"| {route} " in text or f"`{route}`" in text, route
    assert f"wrote {output}" in result.stdout


def test_without_a_gpu_the_real_run_points_at_the_dry_run():
    if torch.cuda.is_available():
        pytest.skip("a GPU is here: the real run is the benchmark itself, not a test")
    result = run_script()
    assert result.returncode == 1
    assert "no CUDA device here" in result.stderr and "--dry-run" in result.stderr
