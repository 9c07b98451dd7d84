"""Measuring one route at one size: wall time, peak memory over the weights, FLOPs, OOM."""

from __future__ import annotations

import gc
import os
import re
import resource
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .routes import ROUTES, Bench

MIB = 2**20


@dataclass
class Measurement:
    """One (route, size): median time of a run, peak memory over the weights, or OOM."""

    route: str
    size: int
    samples: int = 0
    image_tokens: int = 0
    sequence: int = 0
    ms: float | None = None
    peak_mib: float | None = None
    flops: float | None = None
    oom: bool = False


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on ``device`` (a no-op off CUDA, where calls are blocking)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def host_memory_gib(pages: str) -> float:
    """The machine's RAM counted by the ``os.sysconf`` page count ``pages``, GiB.

    ``"SC_PHYS_PAGES"``: all of it; ``"SC_AVPHYS_PAGES"``: what is free now.
    """
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf(pages) / 2**30


def host_status_mib(name: str) -> float:
    """A ``/proc/self/status`` field (``VmHWM``, ``VmRSS``, ``VmSize``) in MiB."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{name}:\s+(\d+) kB", status, re.MULTILINE)[1]) / 1024


def host_peak_mib() -> float:
    """This process's peak resident set.

    ``VmHWM`` rather than ``ru_maxrss``: a child made by fork+exec (Python's subprocess)
    starts with ``ru_maxrss`` = its parent's peak, which would hide a smaller growth.
    """
    if Path("/proc/self/status").exists():
        return host_status_mib("VmHWM")
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale / 1024


def memory_baseline(device: torch.device) -> float:
    """Reset the peak counter and return the memory in use now (weights and inputs), MiB."""
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device) / MIB
    with suppress(OSError):  # Linux: "5" resets VmHWM to the current resident set
        Path("/proc/self/clear_refs").write_text("5")
    return host_peak_mib()


def memory_peak(device: torch.device) -> float:
    """The peak memory (MiB) since the last ``memory_baseline``: allocated on CUDA, else RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / MIB
    return host_peak_mib()


def timed(run: Callable[[], object], device: torch.device) -> float:
    """Wall seconds of ``run()``, synchronised on CUDA."""
    synchronize(device)
    started = time.perf_counter()
    run()
    synchronize(device)
    return time.perf_counter() - started


def count_flops(run: Callable[[], object]) -> int:
    """FLOPs of one ``run()`` by torch's FlopCounterMode (matmuls and attention kernels)."""
    from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

    def cpu_sdpa(query: Any, key: Any, value: Any, *_: Any, **__: Any) -> int:
        return sdpa_flop_count(query, key, value)

    # FlopCounterMode has formulas for the GPU SDPA kernels only: CPU attention would count 0.
    cpu_kernel = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    with FlopCounterMode(display=False, custom_mapping={cpu_kernel: cpu_sdpa}) as counter:
        run()
    return counter.get_total_flops()


def is_oom(error: BaseException) -> bool:
    """CUDA's OutOfMemoryError, Python's MemoryError, or the CPU allocator's RuntimeError."""
    return isinstance(error, torch.OutOfMemoryError | MemoryError) or (
        isinstance(error, RuntimeError) and "can't allocate memory" in str(error)
    )


def measure(bench: Bench, route: str, size: int, warmup: int, repeats: int) -> Measurement:
    """Time ``route`` at ``size`` and take its peak memory over what was loaded before it."""
    device = bench.attributor.device
    image_tokens, sequence = bench.token_counts(size)
    result = Measurement(route, size, image_tokens=image_tokens, sequence=sequence)
    try:
        with ROUTES[route](bench, size) as work:
            result.samples = work.samples
            baseline = memory_baseline(device)
            if work.count_flops:
                result.flops = count_flops(work.run)
            for _ in range(warmup):
                timed(work.run, device)
            result.ms = 1000 * statistics.median(timed(work.run, device) for _ in range(repeats))
            result.peak_mib = memory_peak(device) - baseline
    except (RuntimeError, MemoryError) as error:
        if not is_oom(error):
            raise
        result.oom, result.ms, result.peak_mib = True, None, None
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def matmul_tflops(device: torch.device, dtype: torch.dtype) -> float:
    """Measured dense matmul throughput (TFLOP/s): the yardstick for the batched pass."""
    n = 8192 if device.type == "cuda" else 1024
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    for _ in range(2):
        timed(lambda: a @ b, device)
    seconds = statistics.median(timed(lambda: a @ b, device) for _ in range(5))
    return 2 * n**3 / seconds / 1e12
