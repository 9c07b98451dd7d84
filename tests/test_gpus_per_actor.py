"""--gpus-per-actor on a real local Ray cluster with four fake GPUs: the pool's size, what
each actor holds, and the model placement each actor is told to use."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest
import ray

from vea_augment.distributed.cluster import ActorPlan, plan_actors
from vea_augment.distributed.pool import Placement, PoolRequest, distribute
from vea_augment.errors import ConfigError
from vea_augment.jobs import actor_loading
from vea_augment.options import ModelOptions


@pytest.fixture(scope="module")
def four_gpus():
    # The workers cannot import this test module: ship its classes by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(
        address="local", num_cpus=2, num_gpus=4, include_dashboard=False, configure_logging=False
    )
    yield
    ray.shutdown()


@dataclass(frozen=True)
class Item:
    index: int

    def describe(self) -> str:
        return f"item {self.index}"


@ray.remote(num_cpus=0)
class GpuProbe:
    def __init__(self, loading: ModelOptions) -> None:
        self.loading = loading

    def run(self, item: Item) -> dict:
        return {
            "gpus": sorted(str(g) for g in ray.get_gpu_ids()),
            "actor": ray.get_runtime_context().get_actor_id(),
            "device_map": self.loading.device_map,
        }


def run_pool(gpus_per_actor: int, items: int = 4) -> tuple[ActorPlan, list[dict]]:
    seen: list[dict] = []
    request = PoolRequest(
        actor_class=GpuProbe,
        arguments=lambda plan: (actor_loading(ModelOptions(), plan),),
        method="run",
        name_prefix="vea-test-gpus",
        placement=Placement(gpus_per_actor=gpus_per_actor),
    )
    result = distribute(
        request,
        [Item(i) for i in range(items)],
        lambda _: None,
        lambda outcome: seen.append(outcome.stats or {"errors": outcome.errors}) or {},
        "probe",
        show_progress=False,
    )
    return result.plan, seen


@pytest.mark.parametrize(("k", "actors"), [(1, 4), (2, 2), (3, 1), (4, 1)])
def test_the_pool_has_floor_gpus_over_k_actors_of_k_gpus(four_gpus, k, actors):
    plan = plan_actors(None, num_shards=10, gpus_per_actor=k)
    assert (plan.num_actors, plan.num_gpus) == (actors, float(k))


@pytest.mark.parametrize(("k", "actors"), [(2, 2), (4, 1)])
def test_each_actor_holds_k_gpus_and_spreads_its_model(four_gpus, k, actors):
    plan, seen = run_pool(k)
    assert plan.num_actors == actors and plan.describe() == f"{actors} actor(s), {k} GPU each"
    assert len(seen) == 4 and all("errors" not in stats for stats in seen), seen
    by_actor = {stats["actor"]: stats["gpus"] for stats in seen}
    assert len(by_actor) <= actors
    assert all(len(gpus) == k for gpus in by_actor.values())
    held = [gpu for gpus in by_actor.values() for gpu in gpus]
    assert len(held) == len(set(held))  # no GPU held by two actors
    assert {stats["device_map"] for stats in seen} == {"auto"}


def test_one_gpu_per_actor_moves_the_model_to_its_device(four_gpus):
    _, seen = run_pool(1, items=2)
    assert {stats["device_map"] for stats in seen} == {None}


def test_more_gpus_per_actor_than_the_cluster_has_is_a_clear_error(four_gpus):
    with pytest.raises(ConfigError, match="--gpus-per-actor 5 but the Ray cluster has 4 GPU"):
        plan_actors(None, num_shards=4, gpus_per_actor=5)
