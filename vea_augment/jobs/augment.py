"""The distributed ``augment`` job: one model actor per GPU, shards handed out from a queue."""

from __future__ import annotations

import json
import os
import platform
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import ray

from vea_augment._version import __version__
from vea_augment.data.readers import first_samples
from vea_augment.data.sources import ShardTask, plan_input
from vea_augment.data.store import OutputStore, is_url
from vea_augment.data.writer import (
    MANIFEST_NAME,
    finished_shards,
    remove_stale_temporaries,
    shard_name,
    stats_name,
)
from vea_augment.distributed.cluster import ActorPlan
from vea_augment.distributed.pool import PoolRequest, Units, distribute
from vea_augment.distributed.scheduler import ShardOutcome
from vea_augment.distributed.workers import pin_torch_threads, worker_name
from vea_augment.errors import ConfigError
from vea_augment.jobs import PoolJob, actor_loading
from vea_augment.options import InputOptions, ModelOptions
from vea_augment.schemas.manifest import JobManifest
from vea_augment.schemas.stats import MaskQualityStats
from vea_augment.steps.augment import AugmentSettings, augment_shard
from vea_augment.steps.mask_scores import MaskScoreTally, mask_quality_lines


@dataclass(frozen=True)
class AugmentJob(PoolJob):
    """Everything ``vea-augment augment`` was asked to do; ``output`` may be an fsspec URL."""

    output: str | Path = field(kw_only=True)
    model: str
    layers: tuple[int, ...]
    loading: ModelOptions = field(default_factory=ModelOptions)
    settings: AugmentSettings = field(default_factory=AugmentSettings)
    reading: InputOptions = field(default_factory=InputOptions)
    limit: int | None = None
    """Only the first ``limit`` samples: whole shards, and the shard it falls in written as
    partial (its stats under ``_stats/shard-N.partial.json``, redone by any later run)."""


@dataclass
class JobSummary:
    """What the job did, for the end-of-job report."""

    shards_total: int
    shards_skipped: int
    shards_done: int
    shards_failed: list[str]
    samples: int
    ok: int
    errors: int
    errors_by_reason: dict[str, int]
    seconds: float
    actors: str
    actor_restarts: int
    mask_quality: MaskQualityStats | None = None
    """Mask quality of this run's ok samples (shards already done are not counted)."""

    def lines(self) -> list[str]:
        rate = self.samples / self.seconds if self.seconds > 0 else 0.0
        text = [
            f"shards: {self.shards_done} written, {self.shards_skipped} already done, "
            f"{len(self.shards_failed)} failed (of {self.shards_total})",
            f"samples: {self.samples} ({self.ok} ok, {self.errors} errors) in "
            f"{self.seconds:.1f}s, {rate:.2f} samples/s on {self.actors}",
        ]
        text += [
            f"  {count:>6}  {reason}"
            for reason, count in sorted(self.errors_by_reason.items(), key=lambda item: -item[1])
        ]
        text += [f"  failed shard: {failure}" for failure in self.shards_failed]
        text += mask_quality_lines(self.mask_quality)
        if self.actor_restarts:
            text.append(f"actors replaced after failures: {self.actor_restarts}")
        return text


@ray.remote
class AugmentActor:
    """Holds one model (on its GPU, or the CPU) and augments whole shards."""

    def __init__(
        self,
        model: str,
        layers: tuple[int, ...],
        loading: ModelOptions,
        settings: AugmentSettings,
        output: str,
        torch_threads: int,
    ) -> None:
        from vea_augment.attribution import Attributor

        pin_torch_threads(torch_threads)
        self.attributor = Attributor.from_pretrained(
            model, list(layers), loading, only_chosen_layers=True
        )
        self.settings = settings
        self.output = OutputStore(output)
        self.name = worker_name()

    def run_shard(
        self, task: ShardTask, progress: Callable[[int], None] | None = None
    ) -> dict[str, Any]:
        stats = augment_shard(
            task, self.attributor, self.settings, self.output, progress, worker=self.name
        )
        return stats.model_dump(mode="json")

    def where(self) -> str:
        return self.name


def _package_versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "vea-augment": __version__}
    for name in ("torch", "transformers", "ray", "webdataset", "numpy", "pillow"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def absolute_input(source: str, reading: InputOptions) -> str:
    """``source`` as an absolute path (braces kept) unless it is a URL or a hub id."""
    if is_url(source) or reading.input_format == "hf":
        return source
    return os.path.abspath(os.path.expanduser(source))


def _manifest(job: AugmentJob, store: OutputStore) -> JobManifest:
    reading = job.reading.to_config()
    if reading.get("image_root") and not is_url(reading["image_root"]):
        reading["image_root"] = os.path.abspath(reading["image_root"])
    config = {
        "model": {"model": job.model, "layers": list(job.layers), **asdict(job.loading)},
        "settings": {**asdict(job.settings), "mask": asdict(job.settings.mask)},
        **reading,
        "num_actors": job.num_actors,
        "gpus_per_actor": job.gpus_per_actor,
        "address": job.address,
        "limit": job.limit,
    }
    return JobManifest(
        command="augment",
        tool_version=__version__,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        input=absolute_input(job.input, job.reading),
        output=store.url,
        config=json.loads(json.dumps(config)),
        versions=_package_versions(),
    )


def _committed_stats(store: OutputStore, task: ShardTask) -> dict[str, Any] | None:
    """The shard's statistics when it is committed (its tar and its stats both exist)."""
    if store.exists(stats_name(task.index)) and store.exists(shard_name(task.index)):
        return json.loads(store.read_text(stats_name(task.index)))
    return None


def shard_size(task: ShardTask) -> int | None:
    """How many samples a shard holds, when its plan says (line and row ranges; not tars)."""
    if task.kind == "webdataset" or task.stop is None:
        return None
    return task.stop - task.start


SAMPLES = Units("sample", shard_size, lambda stats: int(stats["total"]))


def _committed_total(store: OutputStore, task: ShardTask) -> int:
    stats = _committed_stats(store, task)
    return int(stats["total"]) if stats else 0


def run_augment_job(job: AugmentJob, show_progress: bool = True) -> JobSummary:
    """Run (or resume) the job: skip committed shards, augment the rest on the actor pool."""
    started = time.perf_counter()
    tasks = first_samples(plan_input(job.input, job.reading), job.limit)
    store = OutputStore(job.output)
    store.make_root()
    remove_stale_temporaries(store)
    done = finished_shards(store)
    todo = [task for task in tasks if task.index not in done]
    store.write_json(MANIFEST_NAME, _manifest(job, store))

    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    failed: list[str] = []
    quality = MaskScoreTally()
    plan = ActorPlan(0, 0.0, 0.0)
    restarts = 0
    if todo:

        def on_done(outcome: ShardOutcome) -> dict[str, Any]:
            if outcome.stats is None:
                failed.append(f"{outcome.task.describe()}: " + "; ".join(outcome.errors))
            else:
                counts["samples"] += outcome.stats["total"]
                counts["ok"] += outcome.stats["ok"]
                counts["errors"] += outcome.stats["errors"]
                reasons.update(outcome.stats["errors_by_reason"])
                quality.add_stats(outcome.stats.get("mask_quality"))
            return {"errors": counts["errors"]}

        request = PoolRequest(
            actor_class=AugmentActor,
            arguments=lambda plan: (
                job.model,
                job.layers,
                actor_loading(job.loading, plan),
                job.settings,
                store.url,
                int(plan.num_cpus),
            ),
            method="run_shard",
            name_prefix="vea-augment",
            placement=job,
        )
        result = distribute(
            request,
            todo,
            lambda task: _committed_stats(store, task),
            on_done,
            "augment",
            show_progress,
            SAMPLES,
        )
        plan, restarts = result.plan, result.restarts
    committed = (_committed_total(store, task) for task in tasks if task.index in done)
    if not failed and not counts["samples"] and not any(committed):
        raise ConfigError(
            f"input {job.input!r} yielded no samples: its {len(tasks)} shard(s) are empty"
        )
    return JobSummary(
        shards_total=len(tasks),
        shards_skipped=len(tasks) - len(todo),
        shards_done=len(todo) - len(failed),
        shards_failed=failed,
        samples=counts["samples"],
        ok=counts["ok"],
        errors=counts["errors"],
        errors_by_reason=dict(reasons),
        seconds=time.perf_counter() - started,
        actors=plan.describe() if todo else "no actors (nothing to do)",
        actor_restarts=restarts,
        mask_quality=quality.stats(),
    )
