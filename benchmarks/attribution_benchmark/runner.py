"""Which process measures what: on CPU a fresh process per (route, size), on CUDA this one."""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import torch

from vea_augment.attribution.attributor import Attributor

from .architectures import ARCHS, build_checkpoint
from .measurement import MIB, Measurement, host_status_mib, measure
from .rendering import cell
from .routes import Bench


def make_bench(options: argparse.Namespace, directory: Path, workdir: Path) -> Bench:
    """Load ``--arch`` from the checkpoint in ``directory`` onto ``--device``, with its layers."""
    arch = ARCHS[options.arch]
    model, processor = arch.load(directory, options.device)
    attributor = Attributor(model, processor, options.layers or arch.layers, model_id=options.arch)
    return Bench(attributor, options.batch, options.pipeline_samples, workdir)


def measure_in_fresh_process(
    options: dict[str, Any], directory: str, route: str, size: int
) -> Measurement:
    """Entry point of a CPU measurement process: cap its memory, load, measure one (route, size)."""
    namespace = argparse.Namespace(**options)
    if namespace.threads:  # this process only measures on the CPU
        torch.set_num_threads(namespace.threads)
    limit = int((host_status_mib("VmSize") + namespace.memory_limit_gib * 1024) * MIB)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    with tempfile.TemporaryDirectory() as workdir:
        bench = make_bench(namespace, Path(directory), Path(workdir))
        return measure(bench, route, size, namespace.warmup, namespace.repeats)


def run_isolated(
    options: argparse.Namespace, directory: Path, route: str, size: int
) -> Measurement:
    """One (route, size) in a fresh process; a process killed (by the OOM killer) reads OOM."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "transformers", "vea_augment.attribution.attributor"])
    with ProcessPoolExecutor(1, mp_context=context, max_tasks_per_child=1) as pool:
        future = pool.submit(measure_in_fresh_process, vars(options), str(directory), route, size)
        try:
            return future.result()
        except BrokenProcessPool:
            return Measurement(route, size, oom=True)


def run_all(options: argparse.Namespace, workdir: Path) -> list[Measurement]:
    """Every (size, route): on CPU each in its own process, on CUDA in this one."""
    directory = build_checkpoint(workdir / "checkpoint")
    isolated = options.device == "cpu"
    bench = None if isolated else make_bench(options, directory, workdir)
    results = []
    for size in options.sizes:
        for route in options.routes:
            if bench is None:
                result = run_isolated(options, directory, route, size)
            else:
                result = measure(bench, route, size, options.warmup, options.repeats)
            print(f"{size}² {route}: {cell(result.ms, 1, result.oom)} ms", file=sys.stderr)
            results.append(result)
    return results
