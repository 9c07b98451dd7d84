"""Fixtures shared by the test modules: a local Ray instance and the tiny Qwen2-VL checkpoint.

Ray 2.60 turns on token authentication by default; the tests run their own local clusters
without it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A local two-CPU Ray instance for one test module, shut down after it."""
    import ray

    # address="local": always a fresh instance of our own, even if another cluster runs here.
    ray.init(address="local", num_cpus=2, include_dashboard=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Qwen2-VL checkpoint (real classes and processor), built once."""
    from vea_augment.testing.tiny import build_tiny_checkpoint

    return build_tiny_checkpoint("qwen2_vl", tmp_path_factory.mktemp("model") / "qwen2_vl")
