"""The Markdown section: machine, versions, command, one table per size, the ratios.

A rerun with the same arch, machine and sizes replaces its section in ``--output``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
from contextlib import suppress
from pathlib import Path

import torch
import transformers

from .architectures import ARCHS
from .measurement import Measurement, host_memory_gib
from .routes import ROUTES


def machine(device: torch.device) -> tuple[str, str]:
    """(short name, description) of the machine: GPU or CPU model, cores, memory."""
    cpu = platform.processor() or platform.machine()
    with suppress(OSError, StopIteration):
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    memory = host_memory_gib("SC_PHYS_PAGES")
    host = f"{cpu}, {os.cpu_count()} cores, {memory:.1f} GiB RAM"
    if device.type != "cuda":
        return f"CPU {cpu}", f"{host}; torch threads {torch.get_num_threads()}"
    gpu = torch.cuda.get_device_properties(device)
    return gpu.name, f"{gpu.name} ({gpu.total_memory / 2**30:.1f} GiB); host {host}"


def tflops(result: Measurement | None) -> float | None:
    """Achieved TFLOP/s of a run whose FLOPs were counted."""
    if result is None or result.flops is None or result.ms is None:
        return None
    return result.flops / (result.ms / 1000) / 1e12


def section_title(options: argparse.Namespace) -> str:
    """Arch, machine and sizes: a rerun of the same replaces its section in ``--output``."""
    sizes = ", ".join(f"{size}²" for size in options.sizes)
    return f"{options.arch} on {machine(torch.device(options.device))[0]}: {sizes}"


def cell(value: float | None, digits: int = 0, oom: bool = False) -> str:
    """A table cell: ``OOM`` if ``oom``, ``n/a`` for a missing value, else ``value`` to ``digits``
    decimals with thousands separators."""
    if oom:
        return "OOM"
    return "n/a" if value is None else f"{value:,.{digits}f}"


def ratios(found: dict[str, Measurement], options: argparse.Namespace, peak: float) -> list[str]:
    """The summary row of one size (``n/a`` where a route is missing or ran out of memory)."""

    def ms(route: str) -> float | None:
        return found[route].ms if route in found else None

    def div(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else a / b

    memory = [found[r].peak_mib if r in found else None for r in ("attribution", "sdpa")]
    achieved = tflops(found.get("attribution_batched"))
    return [
        cell(div(ms("eager"), ms("attribution")), 2, "eager" in found and found["eager"].oom),
        cell(None if None in memory else memory[0] - memory[1]),
        cell(div(div(ms("attribution_batched"), options.batch), ms("attribution")), 2),
        cell(div(ms("attribution_stream"), ms("pipeline")), 2),
        cell(None if achieved is None else 100 * achieved / peak, 1),
    ]


def render(options: argparse.Namespace, results: list[Measurement], peak: float) -> str:
    """The Markdown section: machine, versions, command, one table per size, the ratios."""
    device = torch.device(options.device)
    description = machine(device)[1]
    memory = (
        "`torch.cuda.max_memory_allocated` over the loaded weights"
        if device.type == "cuda"
        else "peak resident set growth (VmHWM) over the loaded model, one fresh process each"
    )
    dtype = str(ARCHS[options.arch].dtype).removeprefix("torch.")
    lines = [
        f"## {section_title(options)}",
        "",
        f"- Machine: {description}",
        f"- Versions: Python {platform.python_version()}, torch {torch.__version__}, "
        f"transformers {transformers.__version__}",
        f"- Command: `{shlex.join(['python', *sys.argv])}`",
        f"- Model: {ARCHS[options.arch].description}; layers "
        f"{','.join(map(str, options.layers or ARCHS[options.arch].layers))}",
        f"- Median of {options.repeats} run(s) after {options.warmup} warm-up(s); batch "
        f"{options.batch}; pipeline {options.pipeline_samples} samples; memory: {memory}",
        f"- Dense {dtype} matmul throughput measured here: {peak:.2f} TFLOP/s",
        "",
    ]
    for size in options.sizes:
        rows = [r for r in results if r.size == size]
        tokens = max(r.image_tokens for r in rows)
        sequence = max(r.sequence for r in rows)
        lines += [
            f"### {size} × {size} px: {tokens} image tokens, sequence {sequence}",
            "",
            "| route | samples | ms per run | ms per sample | peak MiB over weights | TFLOP/s |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            per_sample = None if r.ms is None or not r.samples else r.ms / r.samples
            lines.append(
                f"| {r.route} | {r.samples or ''} | {cell(r.ms, 1, r.oom)} "
                f"| {cell(per_sample, 1, r.oom)} | {cell(r.peak_mib, 0, r.oom)} "
                f"| {cell(tflops(r), 3)} |"
            )
        lines.append("")
    lines += [
        "### Ratios",
        "",
        "| size | paper ÷ attribution time | attribution − plain prefill memory (MiB) "
        "| batched ÷ single time per sample | pipeline ÷ attribution samples/s "
        "| batched % of matmul throughput |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for size in options.sizes:
        found = {r.route: r for r in results if r.size == size}
        lines.append(f"| {size} | " + " | ".join(ratios(found, options, peak)) + " |")
    lines += ["", "Routes:", ""]
    lines += [f"- `{name}`: {ROUTES[name].__doc__.splitlines()[0]}" for name in options.routes]
    return "\n".join(lines) + "\n"


def write_section(path: Path, key: str, section: str) -> None:
    """Replace the section marked ``key`` in ``path``, or append it."""
    start, end = f"<!-- attribution-bench: {key} -->", f"<!-- /attribution-bench: {key} -->"
    block = f"{start}\n{section}{end}\n"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)
