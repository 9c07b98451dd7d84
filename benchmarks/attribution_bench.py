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
import gc
import io
import json
import multiprocessing
import os
import platform
import re
import resource
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
import webdataset as wds
from PIL import Image

from vea_augment.attribution.attributor import Attributor
from vea_augment.data.sources import ShardTask
from vea_augment.models.loading import load_model_and_processor
from vea_augment.options import ModelOptions
from vea_augment.steps.augment import AugmentSettings, augment_shard
from vea_augment.testing.tiny import build_tiny_checkpoint

MIB = 2**20
ALL_SIZES = (448, 896, 1344, 1792, 2240)
#: Qwen2.5-VL's released processor limit (16384 tokens of 28 × 28 px): admits 2240².
MAX_PIXELS = 16384 * 28 * 28
QUESTIONS = (
    "What is written on the sign?",
    "Which shop is open?",
    "What colour is the box on the left of the picture?",
    "How many digits are there?",
)


# --- models ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arch:
    """A model to benchmark: what it is, where to attribute, how to load it on a device."""

    description: str
    layers: tuple[int, ...]
    dtype: torch.dtype
    load: Callable[[Path, str], tuple[Any, Any]]


def load_tiny(directory: Path, device: str) -> tuple[Any, Any]:
    """The tiny Qwen2.5-VL checkpoint itself, float32, through the project's loader."""
    return load_model_and_processor(directory, ModelOptions(dtype="float32", device=device))


def qwen25_vl_7b_config(tiny_config: Any) -> Any:
    """Qwen2.5-VL-7B-Instruct's published config, with the tiny tokenizer's special-token ids."""
    from transformers import Qwen2_5_VLConfig

    text = {
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "vocab_size": 152064,
        "max_position_embeddings": 128000,
        "rms_norm_eps": 1e-6,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 1e6,
            "mrope_section": [16, 24, 24],
        },
        "pad_token_id": tiny_config.text_config.pad_token_id,
        "eos_token_id": tiny_config.text_config.eos_token_id,
        "bos_token_id": None,
    }
    vision = {
        "depth": 32,
        "hidden_size": 1280,
        "num_heads": 16,
        "intermediate_size": 3420,
        "out_hidden_size": 3584,
        "hidden_act": "silu",
        "window_size": 112,
        "fullatt_block_indexes": [7, 15, 23, 31],
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "tokens_per_second": 2,
    }
    ids = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")
    return Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        tie_word_embeddings=False,
        **{name: getattr(tiny_config, name) for name in ids},
    )


def load_qwen25_vl_7b(directory: Path, device: str) -> tuple[Any, Any]:
    """Qwen2.5-VL-7B's architecture with random bf16 weights drawn on ``device``.

    The processor (and its special-token ids) is the tiny checkpoint's: the same
    Qwen2.5-VL image processor (patch 14, merge 2, CLIP statistics) as the released model,
    with a word-level tokenizer, so prompts are a few tokens longer than with Qwen's own.
    """
    from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor

    config = qwen25_vl_7b_config(AutoConfig.from_pretrained(directory))
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(
            config, dtype=torch.bfloat16, attn_implementation="sdpa"
        )
    processor = AutoProcessor.from_pretrained(directory)
    processor.tokenizer.padding_side = "left"
    return model.eval(), processor


ARCHS: dict[str, Arch] = {
    "tiny": Arch(
        "tiny Qwen2.5-VL (8 decoder layers, hidden 64; vision depth 2, hidden 32), "
        "random float32 weights",
        (4, 5, 6),
        torch.float32,
        load_tiny,
    ),
    "qwen2.5-vl-7b": Arch(
        "Qwen2.5-VL-7B-Instruct architecture (28 layers, hidden 3584; vision depth 32), "
        "random bf16 weights",
        (18, 22, 24),
        torch.bfloat16,
        load_qwen25_vl_7b,
    ),
}


def build_checkpoint(directory: Path) -> Path:
    """The tiny Qwen2.5-VL checkpoint: the tiny arch's weights, both archs' processor."""
    return build_tiny_checkpoint("qwen2_5_vl", directory, num_layers=8, max_pixels=MAX_PIXELS)


# --- routes ----------------------------------------------------------------------------------


def synthetic_image(size: int, seed: int) -> Image.Image:
    """A deterministic smooth colour field, ``size`` × ``size`` (compresses like a photo)."""
    coarse = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    return Image.fromarray(coarse).resize((size, size), Image.BILINEAR)


@dataclass
class Bench:
    """One loaded model with its Attributor, and the batch shapes of the routes."""

    attributor: Attributor
    batch: int
    pipeline_samples: int
    workdir: Path

    @property
    def model(self) -> Any:
        return self.attributor.model

    def inputs(self, size: int, count: int) -> tuple[list[Image.Image], list[str]]:
        """``count`` distinct images of side ``size`` and their questions (same every run)."""
        images = [synthetic_image(size, seed) for seed in range(count)]
        return images, [QUESTIONS[i % len(QUESTIONS)] for i in range(count)]

    def prefill(self, images: list[Image.Image], questions: list[str], **options: Any) -> Any:
        """A full forward pass over the encoded batch, logits of the last position only."""
        inputs = self.attributor.encode(images, self.attributor.prompts(questions))
        with torch.inference_mode():
            return self.model(**inputs, use_cache=False, logits_to_keep=1, **options)

    def token_counts(self, size: int) -> tuple[int, int]:
        """(image tokens, sequence length) of one sample of side ``size``."""
        images, questions = self.inputs(size, 1)
        inputs = self.attributor.encode(images, self.attributor.prompts(questions))
        layouts = self.attributor.adapter.layouts(inputs, 0, images[0].size)
        return sum(layout.positions.size for layout in layouts), int(inputs["input_ids"].shape[1])


@dataclass
class Workload:
    """What one timed run does, and how many samples it handles."""

    run: Callable[[], object]
    samples: int
    count_flops: bool = False


@contextmanager
def attention_kernels(model: Any, **kernels: str) -> Iterator[None]:
    """Switch sub-model kernels (``text="eager"``, ``vision="sdpa"``) for a block, then restore."""
    configs = {f"{part}_config": getattr(model.config, f"{part}_config") for part in kernels}
    before = {name: config._attn_implementation for name, config in configs.items()}
    model.set_attn_implementation({f"{part}_config": kernel for part, kernel in kernels.items()})
    try:
        yield
    finally:
        model.set_attn_implementation(before)


@contextmanager
def eager_route(bench: Bench, size: int) -> Iterator[Workload]:
    """The paper's route: eager attention, `output_attentions=True`, full forward, batch 1."""
    images, questions = bench.inputs(size, 1)

    def run() -> None:
        attentions = bench.prefill(images, questions, output_attentions=True).attentions
        if not attentions or len(attentions) != bench.attributor.num_layers:
            raise RuntimeError("output_attentions returned no attention maps")

    with attention_kernels(bench.model, text="eager", vision="eager"):
        yield Workload(run, 1)


@contextmanager
def sdpa_route(bench: Bench, size: int) -> Iterator[Workload]:
    """A plain prefill with the model's normal kernel (SDPA), full forward, batch 1."""
    images, questions = bench.inputs(size, 1)
    with attention_kernels(bench.model, text="sdpa"):
        yield Workload(lambda: bench.prefill(images, questions), 1)


@contextmanager
def attribution_route(bench: Bench, size: int) -> Iterator[Workload]:
    """`Attributor.attribute_batch` at the chosen layers (capture + early exit), batch 1."""
    images, questions = bench.inputs(size, 1)
    yield Workload(lambda: bench.attributor.attribute_batch(images, questions), 1)


@contextmanager
def attribution_batched_route(bench: Bench, size: int) -> Iterator[Workload]:
    """`Attributor.attribute_batch` over `--batch` images in one pass."""
    images, questions = bench.inputs(size, bench.batch)
    yield Workload(
        lambda: bench.attributor.attribute_batch(images, questions), bench.batch, count_flops=True
    )


@contextmanager
def attribution_stream_route(bench: Bench, size: int) -> Iterator[Workload]:
    """Attribution alone over the pipeline's `--pipeline-samples` images, `--batch` per pass."""
    images, questions = bench.inputs(size, bench.pipeline_samples)

    def run() -> None:
        for start in range(0, len(images), bench.batch):
            stop = start + bench.batch
            bench.attributor.attribute_batch(images[start:stop], questions[start:stop])

    yield Workload(run, len(images))


@contextmanager
def pipeline_route(bench: Bench, size: int) -> Iterator[Workload]:
    """`augment_shard`: the same images as JPEGs in a WebDataset tar to a written shard."""
    images, questions = bench.inputs(size, bench.pipeline_samples)
    with tempfile.TemporaryDirectory(dir=bench.workdir) as scratch:
        tar = Path(scratch) / "input-00000.tar"
        with wds.TarWriter(str(tar)) as sink:
            for index, (image, question) in enumerate(zip(images, questions, strict=True)):
                jpeg = io.BytesIO()
                image.save(jpeg, format="JPEG", quality=90)
                record = {"id": f"s{index}", "question": question, "answers": ["open"]}
                sink.write({"__key__": f"s{index:05d}", "jpg": jpeg.getvalue(), "json": record})
        task = ShardTask(0, "webdataset", str(tar))
        settings = AugmentSettings(batch_size=bench.batch)

        def run() -> None:
            output = Path(tempfile.mkdtemp(dir=scratch))
            stats = augment_shard(task, bench.attributor, settings, output)
            if stats.ok != len(images):
                raise RuntimeError(f"the pipeline failed samples: {stats.failures}")

        yield Workload(run, len(images))


@contextmanager
def preprocess_route(bench: Bench, size: int) -> Iterator[Workload]:
    """The processor alone (prompt + image to tensors on the device), batch 1: in every route."""
    images, questions = bench.inputs(size, 1)
    prompts = bench.attributor.prompts(questions)
    yield Workload(lambda: bench.attributor.encode(images, prompts), 1)


ROUTES: dict[str, Callable[[Bench, int], AbstractContextManager[Workload]]] = {
    "eager": eager_route,
    "sdpa": sdpa_route,
    "attribution": attribution_route,
    "attribution_batched": attribution_batched_route,
    "attribution_stream": attribution_stream_route,
    "pipeline": pipeline_route,
    "preprocess": preprocess_route,
}


# --- measuring -------------------------------------------------------------------------------


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
    if device.type == "cuda":
        torch.cuda.synchronize(device)


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


def make_bench(options: argparse.Namespace, directory: Path, workdir: Path) -> Bench:
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


def matmul_tflops(device: torch.device, dtype: torch.dtype) -> float:
    """Measured dense matmul throughput (TFLOP/s): the yardstick for the batched pass."""
    n = 8192 if device.type == "cuda" else 1024
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    for _ in range(2):
        timed(lambda: a @ b, device)
    seconds = statistics.median(timed(lambda: a @ b, device) for _ in range(5))
    return 2 * n**3 / seconds / 1e12


# --- report ----------------------------------------------------------------------------------


def machine(device: torch.device) -> tuple[str, str]:
    """(short name, description) of the machine: GPU or CPU model, cores, memory."""
    cpu = platform.processor() or platform.machine()
    with suppress(OSError, StopIteration):
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    def integers(text: str) -> list[int]:
        return [int(part) for part in text.split(",") if part.strip()]

    available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES") / 2**30
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", choices=sorted(ARCHS), default="tiny")
    parser.add_argument("--sizes", type=integers, default=list(ALL_SIZES), help="square sides, px")
    parser.add_argument("--layers", type=integers, default=None, help="default: the arch's")
    parser.add_argument("--routes", type=lambda t: t.split(","), default=list(ROUTES))
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--pipeline-samples", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
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
