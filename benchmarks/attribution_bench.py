"""Attribution speed and peak memory: the paper's eager route, a plain prefill, this project.

On the same weights and the same inputs, for square images of each ``--sizes`` side, every
route in ``ROUTES`` is timed (median of ``--repeats`` runs after ``--warmup`` runs) and its
peak memory over the loaded weights is measured: on CUDA with ``max_memory_allocated``, on
CPU in a fresh process per (route, size) from its peak resident set (``VmHWM``). An
out-of-memory is recorded as ``OOM``. Every route starts from PIL images, so each includes
the processor (the ``preprocess`` route shows that share).

    python benchmarks/attribution_bench.py --arch tiny --sizes 448 --repeats 1 --warmup 0
    python benchmarks/attribution_bench.py --arch qwen2.5-vl-7b --output BENCHMARKS.md

``--arch tiny`` is a tiny random-weight Qwen2.5-VL built offline (CPU-sized);
``--arch qwen2.5-vl-7b`` is Qwen2.5-VL-7B-Instruct's published architecture with random
bf16 weights (GPU-sized). Both use the same offline Qwen2.5-VL processor.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch

# ``attribution_benchmark`` (benchmarks/attribution_benchmark/) imports because Python puts
# this script's folder first on sys.path; the measurement processes get the same sys.path.
from attribution_benchmark.architectures import ARCHS
from attribution_benchmark.measurement import host_memory_gib, matmul_tflops
from attribution_benchmark.rendering import render, section_title, write_section
from attribution_benchmark.routes import ROUTES
from attribution_benchmark.runner import run_all

from vea_augment.options import default_device

ALL_SIZES = (448, 896, 1344, 1792, 2240)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (``argv``, default ``sys.argv[1:]``); exits on an unknown route."""

    def integers(text: str) -> list[int]:
        return [int(part) for part in text.split(",") if part.strip()]

    available = host_memory_gib("SC_AVPHYS_PAGES")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", choices=sorted(ARCHS), default="tiny")
    parser.add_argument("--sizes", type=integers, default=list(ALL_SIZES), help="square sides, px")
    parser.add_argument("--layers", type=integers, default=None, help="default: the arch's")
    parser.add_argument("--routes", type=lambda t: t.split(","), default=list(ROUTES))
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--pipeline-samples", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default=default_device())
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU torch threads (default 1: on a busy machine more threads stall at every "
        "parallel region, which swamps a small model's timings; 0: torch's default)",
    )
    parser.add_argument(
        "--memory-limit-gib",
        type=float,
        default=round(0.8 * available, 1),
        help="CPU: address-space cap of each measurement process (default 80%% of free RAM)",
    )
    parser.add_argument("--output", type=Path, default=None, help="Markdown file to update")
    options = parser.parse_args(argv)
    unknown = set(options.routes) - set(ROUTES)
    if unknown:
        parser.error(f"unknown routes {sorted(unknown)}; choose from {list(ROUTES)}")
    return options


def main(argv: list[str] | None = None) -> None:
    """Measure every (size, route), print the section, and update ``--output`` if given."""
    options = parse_args(argv)
    if options.device == "cpu" and options.threads:
        torch.set_num_threads(options.threads)
    device = torch.device(options.device)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir:
        results = run_all(options, Path(workdir))
    peak = matmul_tflops(device, ARCHS[options.arch].dtype)
    section = render(options, results, peak)
    print(section)
    print(json.dumps([asdict(r) for r in results]), file=sys.stderr)
    print(f"total {time.perf_counter() - started:.0f} s", file=sys.stderr)
    if options.output is not None:
        write_section(options.output, section_title(options), section)


if __name__ == "__main__":
    main()
