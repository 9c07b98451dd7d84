"""Soak benchmark: a long augment job through the bundled demo model on local Ray, with one
busy actor SIGKILLed every few minutes. Measures throughput over time, driver and actor
memory over time, and counts samples lost or duplicated (both must be 0).

    OMP_NUM_THREADS=1 python benchmarks/soak.py                       # 20,000 samples
    python benchmarks/soak.py --samples 400 --kill-every 20 --no-write  # a quick look

Writes ``soak.json`` and ``soak.png`` under ``--work`` and, unless ``--no-write``, replaces
the soak section of BENCHMARKS.md. Not a test: it takes tens of minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tarfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from vea_augment.demo.corpus import generate_samples, write_webdataset
from vea_augment.demo.training.recipe import BUNDLED_MODEL_DIR
from vea_augment.testing.processes import (
    augment_actors,
    descendants,
    end_all,
    kill_hard,
    resident_bytes,
)

SECTION_START = "<!-- soak:start -->"
SECTION_END = "<!-- soak:end -->"
MIB = 2**20


@dataclass
class Sample:
    """One look at the running job."""

    seconds: float
    samples_done: int
    driver_mib: float
    actor_mib: list[float]


@dataclass
class SoakResult:
    samples: int
    samples_per_shard: int
    actors: int
    kill_every_s: float
    runs: list[dict] = field(default_factory=list)
    kills: list[float] = field(default_factory=list)
    timeline: list[Sample] = field(default_factory=list)
    written: int = 0
    unique: int = 0
    lost: int = 0
    duplicated: int = 0
    seconds: float = 0.0


def write_corpus(folder: Path, count: int, per_shard: int) -> tuple[str, list[str]]:
    """``count`` demo samples with unique ids as tar shards; returns the brace pattern, ids."""
    ids: list[str] = []
    for chunk, start in enumerate(range(0, count, per_shard)):
        samples = generate_samples(min(per_shard, count - start), seed=chunk)
        for offset, sample in enumerate(samples):
            sample.id = f"soak-{start + offset:06d}"
            ids.append(sample.id)
        shard = write_webdataset(samples, folder / f"chunk-{chunk:05d}", per_shard)[0]
        shard.rename(folder / f"corpus-{chunk:05d}.tar")
        (folder / f"chunk-{chunk:05d}").rmdir()
    last = (count - 1) // per_shard
    return str(folder / f"corpus-{{00000..{last:05d}}}.tar"), ids


def committed_samples(output: Path) -> int:
    total = 0
    for path in (output / "_stats").glob("shard-*.json") if (output / "_stats").is_dir() else ():
        if not path.name.endswith(".partial.json"):
            total += int(json.loads(path.read_text()).get("total", 0))
    return total


def written_keys(output: Path) -> list[str]:
    keys = []
    for shard in sorted(output.glob("shard-*.tar")):
        with tarfile.open(shard) as archive:
            keys += [m.name.split(".")[0] for m in archive.getmembers() if m.name.endswith(".json")]
    return keys


def run_job(command: list[str], result: SoakResult, started: float, args, rng) -> int:
    """Run the driver to its end, sampling memory and killing a busy actor on schedule."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    driver = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    driver_process = psutil.Process(driver.pid)
    seen = set()
    next_kill = time.monotonic() + args.kill_every
    next_look = time.monotonic()
    try:
        while driver.poll() is None:
            now = time.monotonic()
            seen.update(descendants(driver.pid))
            if now >= next_look:
                actors = augment_actors(driver.pid)
                result.timeline.append(
                    Sample(
                        seconds=round(now - started, 1),
                        samples_done=committed_samples(args.work / "out"),
                        driver_mib=round(resident_bytes(driver_process) / MIB, 1),
                        actor_mib=[round(resident_bytes(a) / MIB, 1) for a in actors],
                    )
                )
                next_look = now + args.look_every
            if now >= next_kill:
                busy = augment_actors(driver.pid, busy_only=True)
                if busy and kill_hard(rng.choice(busy)):
                    result.kills.append(round(now - started, 1))
                    next_kill = now + args.kill_every
            time.sleep(0.5)
        output = driver.stdout.read().decode(errors="replace") if driver.stdout else ""
    finally:
        end_all(sorted(seen, key=lambda p: p.pid))
    result.runs.append({"exit": driver.returncode, "summary": output.strip().splitlines()[-6:]})
    return driver.returncode


def plot(result: SoakResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = [s.seconds / 60 for s in result.timeline]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    top.plot(times, rolling_rates(result.timeline, RATE_WINDOW_S), lw=1.0)
    top.set_ylabel(f"samples / s (last {RATE_WINDOW_S:.0f} s)")
    for kill in result.kills:
        top.axvline(kill / 60, color="red", lw=0.6, alpha=0.6)
        bottom.axvline(kill / 60, color="red", lw=0.6, alpha=0.6)
    bottom.plot(times, [s.driver_mib for s in result.timeline], label="driver")
    largest = [max(s.actor_mib, default=0) for s in result.timeline]
    bottom.plot(times, largest, label="largest actor")
    bottom.set_ylabel("resident MiB")
    bottom.set_xlabel("minutes (red: an actor killed)")
    bottom.legend()
    top.set_title(f"soak: {result.samples} samples, {len(result.kills)} actor kills")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


RATE_WINDOW_S = 60.0
"""Throughput is shown over this window: shards commit whole, so a look-to-look rate jumps."""


def rolling_rates(timeline: list[Sample], window: float) -> list[float]:
    """Samples committed per second over the ``window`` seconds before each look."""
    rates = []
    for look in timeline:
        start = next(s for s in timeline if s.seconds >= look.seconds - window)
        span = look.seconds - start.seconds
        rates.append((look.samples_done - start.samples_done) / span if span > 0 else 0.0)
    return rates


def windows(timeline: list[Sample], width: float) -> list[tuple[float, float, float]]:
    """(start, end, samples/s) for consecutive ``width``-second windows of the run."""
    rows, start = [], timeline[0]
    for look in timeline:
        if look.seconds - start.seconds >= width or look is timeline[-1]:
            span = look.seconds - start.seconds
            if span > 0:
                rows.append(
                    (start.seconds, look.seconds, (look.samples_done - start.samples_done) / span)
                )
            start = look
    return rows


def quarter_medians(values: list[float]) -> tuple[float, float]:
    """Median of the first and of the last quarter (memory is flat when they agree)."""
    quarter = max(1, len(values) // 4)

    def median(part: list[float]) -> float:
        part = sorted(part)
        return part[len(part) // 2] if part else 0.0

    return median(values[:quarter]), median(values[-quarter:])


def markdown(result: SoakResult, note: str = "") -> str:
    driver = [s.driver_mib for s in result.timeline]
    actors = [max(s.actor_mib) for s in result.timeline if s.actor_mib]
    d0, d1 = quarter_medians(driver)
    a0, a1 = quarter_medians(actors)
    rate = result.unique / result.seconds if result.seconds else 0.0
    lines = [
        SECTION_START,
        "## Soak: a long job with actors killed (`benchmarks/soak.py`)",
        "",
        f"{result.samples} demo samples ({result.samples_per_shard} per shard) through the "
        f"bundled model on local Ray, {result.actors} actors of 1 CPU each on the shared 2-core "
        f"machine, one busy actor SIGKILLed every {result.kill_every_s:.0f} s. CPU only."
        + (f" {note}" if note else ""),
        "",
        "| measure | value |",
        "|---|---|",
        f"| wall time | {result.seconds / 60:.1f} min ({rate:.1f} samples/s overall) |",
        f"| actors killed | {len(result.kills)} |",
        f"| driver runs (exit codes) | {', '.join(str(r['exit']) for r in result.runs)} |",
        f"| samples written / unique | {result.written} / {result.unique} |",
        f"| samples lost | {result.lost} |",
        f"| samples duplicated | {result.duplicated} |",
        f"| driver RSS, first → last quarter (median) | {d0:.0f} → {d1:.0f} MiB |",
        f"| largest actor RSS, first → last quarter (median) | {a0:.0f} → {a1:.0f} MiB |",
        "",
        "Throughput by two-minute window (the kills fall inside them; each window includes the "
        "replaced actor's model loading):",
        "",
        "| minutes | samples/s | driver MiB | largest actor MiB |",
        "|---|---|---|---|",
        *[
            f"| {a / 60:.0f}–{b / 60:.0f} | {rate:.1f} | {at(result, b).driver_mib:.0f} | "
            f"{max(at(result, b).actor_mib, default=0):.0f} |"
            for a, b, rate in windows(result.timeline, 120.0)
        ],
        "",
        "![soak](benchmarks/results/soak.png)",
        "",
        "Throughput per look and memory over time are in `benchmarks/results/soak.json`.",
        SECTION_END,
    ]
    return "\n".join(lines)


def at(result: SoakResult, seconds: float) -> Sample:
    """The last look at or before ``seconds`` (with actors alive, for the memory columns)."""
    looks = [s for s in result.timeline if s.seconds <= seconds and s.actor_mib]
    return looks[-1] if looks else result.timeline[0]


def replace_section(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8")
    if SECTION_START in text:
        before, rest = text.split(SECTION_START, 1)
        after = rest.split(SECTION_END, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--samples-per-shard", type=int, default=100)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--layers", default="2", help="the bundled model's evidence layer")
    parser.add_argument("--kill-every", type=float, default=180.0, help="seconds between kills")
    parser.add_argument("--look-every", type=float, default=5.0, help="seconds between looks")
    parser.add_argument("--max-runs", type=int, default=3, help="driver runs until all done")
    parser.add_argument("--work", type=Path, default=Path("/tmp/vea-soak"))
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--no-write", action="store_true", help="leave BENCHMARKS.md alone")
    parser.add_argument("--note", default="", help="a sentence on the run's conditions")
    parser.add_argument("--from-json", type=Path, help="only re-render a soak.json's results")
    args = parser.parse_args(argv)
    if args.from_json:
        return publish(load_result(args.from_json), args)

    args.work.mkdir(parents=True, exist_ok=True)
    corpus = args.work / "corpus"
    if not corpus.is_dir():
        print(f"writing {args.samples} samples to {corpus}", flush=True)
        corpus.mkdir()
        pattern, ids = write_corpus(corpus, args.samples, args.samples_per_shard)
    else:
        last = (args.samples - 1) // args.samples_per_shard
        pattern = str(corpus / f"corpus-{{00000..{last:05d}}}.tar")
        ids = [f"soak-{n:06d}" for n in range(args.samples)]
    command = [
        sys.executable, "-m", "vea_augment.cli", "augment", "--model", str(BUNDLED_MODEL_DIR),
        "--layers", args.layers, "--input", pattern, "--output", str(args.work / "out"),
        "--num-actors", str(args.actors), "--dtype", "float32", "--device", "cpu",
        "--no-progress",
    ]  # fmt: skip
    result = SoakResult(args.samples, args.samples_per_shard, args.actors, args.kill_every)
    rng = random.Random(0)
    started = time.monotonic()
    for _ in range(args.max_runs):
        if run_job(command, result, started, args, rng) == 0:
            break
    result.seconds = time.monotonic() - started
    keys = written_keys(args.work / "out")
    result.written, result.unique = len(keys), len(set(keys))
    result.lost = len(set(ids) - set(keys))
    result.duplicated = result.written - result.unique
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "soak.json").write_text(json.dumps(asdict(result), indent=1))
    return publish(result, args)


def load_result(path: Path) -> SoakResult:
    data = json.loads(path.read_text())
    data["timeline"] = [Sample(**look) for look in data["timeline"]]
    return SoakResult(**data)


def publish(result: SoakResult, args: argparse.Namespace) -> int:
    """Plot, print and (unless ``--no-write``) put the section into BENCHMARKS.md."""
    args.results.mkdir(parents=True, exist_ok=True)
    plot(result, args.results / "soak.png")
    section = markdown(result, args.note)
    print(section)
    if not args.no_write:
        replace_section(Path("BENCHMARKS.md"), section)
    return 0 if result.lost == 0 and result.duplicated == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
