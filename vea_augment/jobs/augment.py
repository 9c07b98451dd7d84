"""The distributed ``augment`` job: one model actor per GPU, shards handed out from a queue."""

from __future__ import annotations

import json
import platform
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import ray

from vea_augment._version import __version__
from vea_augment.data.sources import ShardTask, plan_input
from vea_augment.data.writer import (
    MANIFEST_NAME,
    finished_shards,
    remove_stale_temporaries,
    shard_path,
    stats_path,
    write_json_atomic,
)
from vea_augment.distributed.cluster import ActorPlan
from vea_augment.distributed.pool import PoolRequest, distribute
from vea_augment.distributed.scheduler import ShardOutcome
from vea_augment.distributed.workers import pin_torch_threads, worker_name
from vea_augment.errors import ConfigError
from vea_augment.jobs import PoolJob
from vea_augment.options import InputOptions, ModelOptions
from vea_augment.schemas.manifest import JobManifest
from vea_augment.steps.augment import AugmentSettings, augment_shard


@dataclass(frozen=True)
class AugmentJob(PoolJob):
    """Everything ``vea-augment augment`` was asked to do."""

    model: str
    layers: tuple[int, ...]
    loading: ModelOptions = field(default_factory=ModelOptions)
    settings: AugmentSettings = field(default_factory=AugmentSettings)
    reading: InputOptions = field(default_factory=InputOptions)


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
        self.attributor = Attributor.from_pretrained(model, list(layers), loading)
        self.settings = settings
        self.output = Path(output)
        self.name = worker_name()

    def run_shard(self, task: ShardTask) -> dict[str, Any]:
        stats = augment_shard(task, self.attributor, self.settings, self.output, worker=self.name)
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


def _manifest(job: AugmentJob) -> JobManifest:
    config = {
        "model": {"model": job.model, "layers": list(job.layers), **asdict(job.loading)},
        "settings": {**asdict(job.settings), "mask": asdict(job.settings.mask)},
        **job.reading.to_config(),
        "num_actors": job.num_actors,
        "address": job.address,
    }
    return JobManifest(
        command="augment",
        tool_version=__version__,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        input=job.input,
        output=str(job.output),
        config=json.loads(json.dumps(config)),
        versions=_package_versions(),
    )


def _committed_stats(output: Path, task: ShardTask) -> dict[str, Any] | None:
    if shard_path(output, task.index).exists() and stats_path(output, task.index).exists():
        return json.loads(stats_path(output, task.index).read_text())
    return None


def _committed_total(output: Path, task: ShardTask) -> int:
    stats = _committed_stats(output, task)
    return int(stats["total"]) if stats else 0


def run_augment_job(job: AugmentJob, show_progress: bool = True) -> JobSummary:
    """Run (or resume) the job: skip committed shards, augment the rest on the actor pool."""
    started = time.perf_counter()
    tasks = plan_input(job.input, job.reading)
    job.output.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(job.output)
    done = finished_shards(job.output)
    todo = [task for task in tasks if task.index not in done]
    write_json_atomic(job.output / MANIFEST_NAME, _manifest(job))

    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    failed: list[str] = []
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
            elapsed = time.perf_counter() - started
            return {
                "samples": counts["samples"],
                "rate": f"{counts['samples'] / max(elapsed, 1e-9):.2f}/s",
                "errors": counts["errors"],
            }

        request = PoolRequest(
            actor_class=AugmentActor,
            arguments=lambda plan: (
                job.model,
                job.layers,
                job.loading,
                job.settings,
                str(job.output.resolve()),
                int(plan.num_cpus),
            ),
            method="run_shard",
            name_prefix="vea-augment",
            placement=job,
        )
        result = distribute(
            request,
            todo,
            lambda task: _committed_stats(job.output, task),
            on_done,
            "augment",
            show_progress,
        )
        plan, restarts = result.plan, result.restarts
    committed = (_committed_total(job.output, task) for task in tasks if task.index in done)
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
    )
