"""The distributed ``answer`` job: answering actors over the augmented shards.

Actors return each shard's predictions; the driver is the only writer of
``predictions.jsonl`` and appends a shard's lines as soon as it is done, so a killed run
loses at most the shards in flight and a rerun skips every (id, method) already written.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import ray

from vea_augment.answering.factory import BackendSpec
from vea_augment.answering.methods import MethodSpec
from vea_augment.data.augmented import (
    originals_beside,
    read_answer_shard,
    shard_number,
)
from vea_augment.data.predictions_file import (
    PredictionKey,
    append_predictions,
    prepare_for_resume,
)
from vea_augment.data.readers import first_samples
from vea_augment.data.sources import ShardTask, plan_shards
from vea_augment.distributed.pool import PoolRequest, Units, distribute
from vea_augment.distributed.scheduler import ShardOutcome
from vea_augment.distributed.workers import worker_name
from vea_augment.jobs import PoolJob, absolute_input, actor_loading, output_shaping_loading
from vea_augment.jobs.file_output import claimed_file
from vea_augment.options import InputOptions
from vea_augment.schemas.prediction import Prediction
from vea_augment.steps.answer import answer_samples


@dataclass(frozen=True)
class AnswerShard:
    """One augmented shard to answer, and the pairs of it already answered."""

    shard: ShardTask
    skip: frozenset[PredictionKey] = frozenset()

    def describe(self) -> str:
        return self.shard.describe()


@dataclass(frozen=True)
class AnswerJob(PoolJob):
    """Everything ``vea-augment answer`` was asked to do."""

    backend: BackendSpec
    methods: tuple[MethodSpec, ...]
    retry_errors: bool = False
    limit: int | None = None
    """Only the first ``limit`` samples of the shards (every method for each)."""
    overwrite: bool = False
    """Remove an existing predictions file (and its manifest) instead of resuming it."""


@dataclass
class AnswerSummary:
    """What the job did, for the end-of-job report."""

    shards: int
    shards_failed: list[str]
    written: int
    already_there: int
    errors: int
    errors_by_reason: dict[str, int]
    seconds: float
    actors: str
    dropped_malformed: int = 0
    error_examples: dict[str, str] = field(default_factory=dict)
    """One full reason per kind of ``errors_by_reason`` (the first seen), to show the cause."""

    @property
    def all_failed(self) -> bool:
        """Whether this run wrote predictions and every one of them is an error."""
        return self.written > 0 and self.errors == self.written

    @property
    def ok(self) -> bool:
        """No shard failed and not every prediction failed: the exit status's rule."""
        return not self.shards_failed and not self.all_failed

    def lines(self) -> list[str]:
        rate = self.written / self.seconds if self.seconds > 0 else 0.0
        text = [
            f"predictions: {self.written} written ({self.errors} errors), "
            f"{self.already_there} already there, in {self.seconds:.1f}s "
            f"({rate:.2f}/s) on {self.actors}",
        ]
        if self.dropped_malformed:
            text.append(f"dropped {self.dropped_malformed} malformed line(s) of an earlier run")
        for kind, count in sorted(self.errors_by_reason.items(), key=lambda item: -item[1]):
            text.append(f"  {count:>6}  {kind}")
            example = self.error_examples.get(kind)
            if example and example != kind:
                text.append(f"          e.g. {example[:300]}")
        text += [f"  failed shard: {failure}" for failure in self.shards_failed]
        if self.all_failed:
            text.append(f"every prediction failed ({self.errors} of {self.written})")
        return text


def error_category(reason: str) -> str:
    """A prediction error's reason cut to its first two clauses, for counting by kind, e.g.
    ``endpoint failed after 3 attempt(s): HTTP 500`` or ``no highlighted image: augment
    failed``."""
    clauses = reason.split(": ")[:2]
    return ": ".join(c.split(" (")[0].split(" | ")[0] for c in clauses)[:100]


@ray.remote
class AnswerActor:
    """Holds one answering backend (a model on its GPU, or an endpoint client)."""

    def __init__(self, spec: BackendSpec, methods: tuple[MethodSpec, ...], threads: int) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        self.backend = spec.build()
        self.max_pixels = spec.max_pixels
        self.methods = methods
        self.name = worker_name()

    def run_shard(
        self, work: AnswerShard, progress: Callable[[int], None] | None = None
    ) -> dict[str, Any]:
        samples = read_answer_shard(work.shard, originals_beside(work.shard))
        predictions = answer_samples(
            samples,
            self.methods,
            self.backend,
            work.skip,
            progress=progress,
            max_pixels=self.max_pixels,
        )
        return {
            "predictions": [p.model_dump(mode="json") for p in predictions],
            "worker": self.name,
        }


#: The bar counts predictions (sample and method pairs); an augmented tar's size is unknown.
PREDICTIONS = Units("prediction", lambda _: None, lambda stats: len(stats["predictions"]))


def answer_identity(job: AnswerJob) -> dict[str, Any]:
    """What a predictions file is a function of: the input and the backend answering it.

    Not the methods (every prediction names its own, so answering more methods into one file
    is a resume), nor where or how fast it runs, nor secrets: of the endpoint's headers only
    their names (an ``Authorization`` value never reaches the manifest).
    """
    backend = job.backend
    identity: dict[str, Any] = {
        "command": "answer",
        "input": absolute_input(job.input, InputOptions()),
        "backend": {
            "kind": backend.kind,
            "model": backend.model,
            "max_new_tokens": backend.max_new_tokens,
            "max_pixels": backend.max_pixels,
        },
    }
    if backend.kind == "transformers":
        identity["backend"]["loading"] = output_shaping_loading(backend.loading)
    if backend.endpoint is not None:
        endpoint = backend.endpoint
        identity["backend"]["endpoint"] = {
            "url": endpoint.url,
            "model": endpoint.model,
            "max_tokens": endpoint.max_tokens,
            "extra_body": dict(endpoint.extra_body),
            "header_names": sorted(name.lower() for name, _ in endpoint.headers),
        }
    return identity


def run_answer_job(job: AnswerJob, show_progress: bool = True) -> AnswerSummary:
    """Run (or resume) the answer job and append its predictions to ``job.output``.

    The predictions file is locked for the job's life and must carry this job's identity
    (:func:`answer_identity`, in ``<stem>.manifest.json``) unless ``job.overwrite``.
    """
    with claimed_file(Path(job.output), "answer", answer_identity(job), job.overwrite) as output:
        return _answer(replace(job, output=output), show_progress)


def _answer(job: AnswerJob, show_progress: bool) -> AnswerSummary:
    started = time.perf_counter()
    tasks = first_samples(plan_shards(job.input), job.limit)
    resume = prepare_for_resume(job.output, job.backend.model, job.retry_errors)
    work = [AnswerShard(task, resume.skip_for(shard_number(task))) for task in tasks]
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    examples: dict[str, str] = {}
    failed: list[str] = []

    def on_done(outcome: ShardOutcome) -> dict[str, Any]:
        if outcome.stats is None:
            failed.append(f"{outcome.task.describe()}: " + "; ".join(outcome.errors))
        else:
            predictions = [Prediction.model_validate(p) for p in outcome.stats["predictions"]]
            counts["written"] += append_predictions(job.output, predictions)
            for prediction in predictions:
                if prediction.status == "error":
                    counts["errors"] += 1
                    kind = error_category(prediction.reason or "")
                    reasons[kind] += 1
                    examples.setdefault(kind, prediction.reason or "")
        return {"predictions": counts["written"], "errors": counts["errors"]}

    request = PoolRequest(
        actor_class=AnswerActor,
        arguments=lambda plan: (
            replace(job.backend, loading=actor_loading(job.backend.loading, plan)),
            job.methods,
            int(plan.num_cpus),
        ),
        method="run_shard",
        name_prefix="vea-answer",
        placement=job,
        use_gpus=job.backend.uses_gpu,
    )
    result = distribute(
        request, work, lambda _: None, on_done, "answer", show_progress, PREDICTIONS
    )
    already = sum(len(keys) for keys in resume.done_by_shard.values())
    return AnswerSummary(
        shards=len(tasks),
        shards_failed=failed,
        written=counts["written"],
        already_there=already,
        errors=counts["errors"],
        errors_by_reason=dict(reasons),
        seconds=time.perf_counter() - started,
        actors=result.plan.describe(),
        dropped_malformed=resume.dropped_malformed,
        error_examples=examples,
    )
