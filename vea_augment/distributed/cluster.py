"""Joining or starting a Ray cluster, and sizing the actor pool from its resources."""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass

import ray

from vea_augment.errors import ConfigError


@dataclass(frozen=True)
class ActorPlan:
    """How many model actors to start and what each one reserves."""

    num_actors: int
    num_gpus: float
    num_cpus: float

    def describe(self) -> str:
        device = f"{self.num_gpus:g} GPU" if self.num_gpus else f"{self.num_cpus:g} CPU"
        return f"{self.num_actors} actor(s), {device} each"


def connect(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Join ``address`` (e.g. ``auto`` or ``ray://host:10001``) or start a local Ray.

    Returns True when this call started Ray (so the caller shuts it down again).
    """
    if ray.is_initialized():
        return False
    main = threading.current_thread() is threading.main_thread()
    sigterm = signal.getsignal(signal.SIGTERM) if main else None
    if address:
        ray.init(address=address, log_to_driver=True, configure_logging=False)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, configure_logging=False)
    if main and sigterm is not None:
        # ray.init makes SIGTERM a bare sys.exit; keep the job's own handler (a clean stop).
        signal.signal(signal.SIGTERM, sigterm)
    return True


def plan_actors(
    requested: int | None, num_shards: int, use_gpus: bool = True, gpus_per_actor: int = 1
) -> ActorPlan:
    """One actor per ``gpus_per_actor`` GPUs of the cluster (floor(GPUs / K)), or
    ``requested`` CPU actors (default 1) without GPUs (or when ``use_gpus`` is False: actors
    that only call a served model need none).

    Never more actors than shards: an idle actor would only hold a model copy. Asking for
    more GPUs per actor than the cluster has is an error.
    """
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0)) if use_gpus else 0
    cpus = max(1, int(resources.get("CPU", 1)))
    if gpus_per_actor < 1:
        raise ConfigError(f"--gpus-per-actor must be at least 1, not {gpus_per_actor}")
    if use_gpus and gpus_per_actor > max(gpus, 1):
        raise ConfigError(
            f"--gpus-per-actor {gpus_per_actor} but the Ray cluster has {gpus} GPU(s): "
            f"no actor could start"
        )
    if gpus > 0:
        slots = gpus // gpus_per_actor
        count = min(requested or slots, slots)
        plan = ActorPlan(count, float(gpus_per_actor), 1.0)
    else:
        count = requested or 1
        plan = ActorPlan(count, 0.0, max(1.0, float(cpus // max(count, 1))))
    return ActorPlan(max(1, min(plan.num_actors, num_shards)), plan.num_gpus, plan.num_cpus)
