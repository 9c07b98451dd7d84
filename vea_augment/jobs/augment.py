"""The distributed ``augment`` job: one model actor per GPU, shards handed out from a queue."""

from __future__ import annotations

import json
import os
import platform
import signal
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
from vea_augment.data.job_lock import JobLock
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
from vea_augment.distributed.interrupt import JobInterrupted, interruptible
from vea_augment.distributed.pool import PoolRequest, Units, distribute
from vea_augment.distributed.scheduler import ShardOutcome
from vea_augment.distributed.workers import pin_torch_threads, worker_name
from vea_augment.errors import ConfigError
from vea_augment.jobs import PoolJob, absolute_input, actor_loading, output_shaping_loading
from vea_augment.jobs.identity import claim_folder, fingerprint
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
    overwrite: bool = False
    """Remove another job's shards, stats and manifest from ``output`` and start again
    (without it a different job identity there is refused)."""


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
    interrupted: int | None = None
    """The signal (SIGINT, SIGTERM) that stopped the job early; a rerun resumes it."""
    mask_quality: MaskQualityStats | None = None
    """Mask quality of this run's ok samples (shards already done are not counted)."""
    """The signal (SIGINT, SIGTERM) that stopped the job early; a rerun resumes it."""

    @property
    def every_sample_failed(self) -> bool:
        return self.samples > 0 and self.ok == 0

    @property
    def exit_code(self) -> int:
        """128 + the signal when interrupted, 1 when a shard or every sample failed, else 0
        (some failed samples are normal: they are error records)."""
        if self.interrupted is not None:
            return 128 + self.interrupted
        return 1 if self.shards_failed or self.every_sample_failed else 0

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
        if self.every_sample_failed:
            text.append("every sample failed: see the reasons above")
        if self.interrupted is not None:
            left = self.shards_total - self.shards_skipped - self.shards_done
            left -= len(self.shards_failed)
            text.append(
                f"interrupted by {signal.Signals(self.interrupted).name}: {left} shard(s) "
                "not done; rerun the same command to resume"
            )
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


def _reading(job: AugmentJob) -> dict[str, Any]:
    reading = job.reading.to_config()
    if reading.get("image_root") and not is_url(reading["image_root"]):
        reading["image_root"] = os.path.abspath(reading["image_root"])
    return reading


def augment_identity(job: AugmentJob) -> dict[str, Any]:
    """What the shards are a function of: the input, the model and the options that shape
    each sample. Not where or how fast it runs (actors, GPUs, address, progress, limit,
    batch size, device, device map, offline loading)."""
    loading = output_shaping_loading(job.loading)
    settings = {**asdict(job.settings), "mask": asdict(job.settings.mask)}
    del settings["batch_size"], settings["mask_sources"]  # neither shapes an output
    return {
        "command": "augment",
        "input": absolute_input(job.input, job.reading),
        "model": {"model": job.model, "layers": list(job.layers), **loading},
        "settings": settings,
        "reading": _reading(job),
    }


def _manifest(job: AugmentJob, store: OutputStore, identity: dict[str, Any]) -> JobManifest:
    reading = _reading(job)
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
        identity=json.loads(json.dumps(identity)),
        fingerprint=fingerprint(identity),
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
    """Run (or resume) the job: skip committed shards, augment the rest on the actor pool.

    The output is locked for the job's life (``_lock.json``) and must hold this job's
    identity or nothing (else :class:`ConfigError`, unless ``job.overwrite``). SIGINT or
    SIGTERM end it early: actors killed, temporaries removed, lock released, and the summary
    returned with ``interrupted`` set.
    """
    started = time.perf_counter()
    # An input that cannot be read is refused before the output folder exists.
    tasks = first_samples(plan_input(job.input, job.reading), job.limit)
    store = OutputStore(job.output)
    store.make_root()
    identity = augment_identity(job)
    with JobLock(store, "augment"), interruptible():
        progress, done = _Progress(), set[int]()
        try:
            claim_folder(store, identity, job.overwrite)
            remove_stale_temporaries(store)
            progress.tasks = tasks
            done = finished_shards(store)
            todo = [task for task in tasks if task.index not in done]
            progress.skipped = len(tasks) - len(todo)
            store.write_json(MANIFEST_NAME, _manifest(job, store, identity))
            if todo:
                _augment_on_pool(job, store, todo, progress, show_progress)
                # A shard that failed its last attempt may have left its temporary behind.
                remove_stale_temporaries(store)
        except JobInterrupted as stop:
            progress.interrupted = stop.signum
            remove_stale_temporaries(store)  # the killed actors' unfinished shards
        if progress.nothing_read(store, done):
            raise ConfigError(
                f"input {job.input!r} yielded no samples: its {len(progress.tasks)} "
                "shard(s) are empty"
            )
        return progress.summary(time.perf_counter() - started)


@dataclass
class _Progress:
    """What the job has seen so far, enough for a summary at any point (even interrupted)."""

    tasks: list[ShardTask] = field(default_factory=list)
    skipped: int = 0
    done: int = 0
    failed: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    plan: ActorPlan | None = None
    restarts: int = 0
    interrupted: int | None = None
    quality: MaskScoreTally = field(default_factory=MaskScoreTally)

    def on_done(self, outcome: ShardOutcome) -> dict[str, Any]:
        if outcome.stats is None:
            self.failed.append(f"{outcome.task.describe()}: " + "; ".join(outcome.errors))
        else:
            self.done += 1
            for name in ("total", "ok", "errors"):
                self.counts["samples" if name == "total" else name] += outcome.stats[name]
            self.reasons.update(outcome.stats["errors_by_reason"])
            self.quality.add_stats(outcome.stats.get("mask_quality"))
        return {"errors": self.counts["errors"]}

    def nothing_read(self, store: OutputStore, committed: set[int]) -> bool:
        """True when the job ran to its end and no shard, new or old, held a sample."""
        if self.interrupted is not None or self.failed or self.counts["samples"]:
            return False
        return not any(
            _committed_total(store, task) for task in self.tasks if task.index in committed
        )

    def summary(self, seconds: float) -> JobSummary:
        return JobSummary(
            shards_total=len(self.tasks),
            shards_skipped=self.skipped,
            shards_done=self.done,
            shards_failed=self.failed,
            samples=self.counts["samples"],
            ok=self.counts["ok"],
            errors=self.counts["errors"],
            errors_by_reason=dict(self.reasons),
            seconds=seconds,
            actors=self.plan.describe() if self.plan else "no actors (nothing to do)",
            actor_restarts=self.restarts,
            interrupted=self.interrupted,
            mask_quality=self.quality.stats(),
        )


def _augment_on_pool(
    job: AugmentJob,
    store: OutputStore,
    todo: list[ShardTask],
    progress: _Progress,
    show_progress: bool,
) -> None:
    """Augment ``todo`` on a fresh actor pool, feeding each shard's end into ``progress``."""
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
        progress.on_done,
        "augment",
        show_progress,
        SAMPLES,
    )
    progress.plan, progress.restarts = result.plan, result.restarts
