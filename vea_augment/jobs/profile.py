"""The distributed ``profile`` job: the driver picks the samples, actors capture every layer.

Profiling needs few samples (about 100) but every decoder layer of a large model, so the
driver reads and decodes the first ``limit`` samples with boxes and hands them out in chunks;
one actor per GPU scores its chunks; the driver combines the per-sample scores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import ray

from vea_augment import options
from vea_augment.data.writer import write_json_atomic
from vea_augment.distributed.pool import PoolRequest, Units, distribute
from vea_augment.distributed.scheduler import ShardOutcome
from vea_augment.distributed.workers import pin_torch_threads
from vea_augment.jobs import PoolJob, absolute_input, actor_loading, output_shaping_loading
from vea_augment.jobs.file_output import claimed_file
from vea_augment.options import LabelRule, ModelOptions
from vea_augment.schemas.profile import ExcludedSample, LayerProfile
from vea_augment.steps.postprocessing import with_postprocessing
from vea_augment.steps.profile import (
    ProfileSample,
    SampleProfile,
    collect_profile_samples,
    profile_batch,
    summarize_profile,
)


@dataclass(frozen=True)
class ProfileChunk:
    """A slice of the profiling samples for one actor call."""

    index: int
    samples: tuple[ProfileSample, ...]

    def describe(self) -> str:
        return f"profile chunk {self.index} ({len(self.samples)} samples)"


@dataclass(frozen=True)
class ProfileJob(PoolJob):
    """Everything ``vea-augment profile`` was asked to do."""

    model: str
    loading: ModelOptions = field(default_factory=ModelOptions)
    limit: int | None = options.PROFILE_LIMIT
    top_frac: float = options.TOP_FRAC
    rule: LabelRule = options.LABEL_RULE
    per_head: bool = False
    batch_size: int = options.ATTRIBUTION_BATCH_SIZE
    reading: options.InputOptions = field(default_factory=options.InputOptions)
    max_pixels: int = options.MAX_IMAGE_PIXELS
    overwrite: bool = False
    """Replace a profile written by another job (other input, model or options)."""


@ray.remote
class ProfileActor:
    """Holds one model and scores chunks of profiling samples at every decoder layer."""

    def __init__(
        self,
        model: str,
        loading: ModelOptions,
        rule: str,
        per_head: bool,
        batch_size: int,
        threads: int,
    ) -> None:
        from vea_augment.attribution import Attributor

        pin_torch_threads(threads)
        self.attributor = Attributor.from_pretrained(model, [0], loading)
        self.rule, self.per_head, self.batch_size = rule, per_head, batch_size

    def run_chunk(
        self, chunk: ProfileChunk, progress: Callable[[int], None] | None = None
    ) -> dict[str, Any]:
        profiles: list[SampleProfile] = []
        samples = list(chunk.samples)
        for start in range(0, len(samples), self.batch_size):
            batch = samples[start : start + self.batch_size]
            profiles += profile_batch(self.attributor, batch, self.rule, self.per_head)
            if progress is not None:
                progress(len(batch))
        config = self.attributor.model.config
        return {
            "profiles": [asdict(profile) for profile in profiles],
            "num_layers": self.attributor.num_layers,
            "revision": getattr(config, "_commit_hash", None),
        }


SAMPLES = Units("sample", lambda chunk: len(chunk.samples), lambda s: len(s["profiles"]))


def _chunks(samples: list[ProfileSample], batch_size: int) -> list[ProfileChunk]:
    size = max(1, batch_size) * 4
    return [
        ProfileChunk(index, tuple(samples[start : start + size]))
        for index, start in enumerate(range(0, len(samples), size))
    ]


@dataclass(frozen=True)
class ProfileRun:
    """The profile written, and the chunks that failed on every attempt (with why)."""

    profile: LayerProfile
    failures: list[str]


def profile_identity(job: ProfileJob) -> dict[str, Any]:
    """What the profile is a function of (not actors, address, progress, batch size, device)."""
    loading = output_shaping_loading(job.loading)
    source = absolute_input(job.input, job.reading)
    return {
        "command": "profile",
        "input": source,
        "model": {"model": job.model, **loading},
        "settings": {
            "limit": job.limit,
            "top_frac": job.top_frac,
            "rule": job.rule,
            "per_head": job.per_head,
            "max_pixels": job.max_pixels,
        },
        "reading": job.reading.to_config(),
    }


def run_profile_job(job: ProfileJob, show_progress: bool = True) -> LayerProfile:
    """Profile ``job.model`` on ``job.input`` and write the profile JSON to ``job.output``."""
    return run_profile(job, show_progress).profile


def run_profile(job: ProfileJob, show_progress: bool = True) -> ProfileRun:
    """:func:`run_profile_job`, also saying which chunks failed.

    The profile file is locked for the job's life (``<name>.lock`` beside it), and an
    existing profile must carry this job's identity (its ``<stem>.manifest.json``) unless
    ``job.overwrite``; else :class:`~vea_augment.errors.ConfigError` naming what changed.
    """
    identity = profile_identity(job)
    with claimed_file(Path(job.output), "profile", identity, job.overwrite) as output:
        profile, failures = _profile(job, show_progress)
        write_json_atomic(output, profile)
    return ProfileRun(profile, failures)


def _profile(job: ProfileJob, show_progress: bool) -> tuple[LayerProfile, list[str]]:
    samples, excluded = collect_profile_samples(job.input, job.limit, job.reading, job.max_pixels)
    profiles: list[SampleProfile] = []
    model_facts: dict[str, Any] = {}
    failures: list[str] = []

    def on_done(outcome: ShardOutcome) -> dict[str, Any]:
        if outcome.stats is None:
            failures.append(f"{outcome.task.describe()}: " + "; ".join(outcome.errors))
        else:
            profiles.extend(SampleProfile(**p) for p in outcome.stats["profiles"])
            model_facts.update(
                num_layers=outcome.stats["num_layers"], revision=outcome.stats["revision"]
            )
        return {"samples": len(profiles)}

    if samples:
        request = PoolRequest(
            actor_class=ProfileActor,
            arguments=lambda plan: (
                job.model,
                actor_loading(job.loading, plan),
                job.rule,
                job.per_head,
                job.batch_size,
                int(plan.num_cpus),
            ),
            method="run_chunk",
            name_prefix="vea-profile",
            placement=job,
        )
        chunks = _chunks(samples, job.batch_size)
        distribute(request, chunks, lambda _: None, on_done, "profile", show_progress, SAMPLES)
    for failure in failures:
        excluded.append(ExcludedSample(id=failure.split(":")[0], reason=failure))
    profile = summarize_profile(
        profiles,
        excluded,
        model_id=job.model,
        num_layers=int(model_facts.get("num_layers", 1)),
        top_frac=job.top_frac,
        rule=job.rule,
        revision=model_facts.get("revision"),
    )
    profile = with_postprocessing(profile, [p.views for p in profiles if p.excluded is None])
    return profile, failures
