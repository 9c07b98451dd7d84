"""Export every contract's JSON Schema into ``vea_augment/schemas/json/``.

Run ``python -m vea_augment.schemas.export`` after changing a contract; a test fails when a
committed schema file is stale.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from vea_augment.schemas.manifest import JobManifest
from vea_augment.schemas.prediction import Prediction
from vea_augment.schemas.profile import LayerProfile
from vea_augment.schemas.report import ScoreReport
from vea_augment.schemas.sample import InputSample
from vea_augment.schemas.sidecar import VEASidecar
from vea_augment.schemas.stats import ShardStats

SCHEMA_DIR = Path(__file__).with_name("json")

CONTRACTS: dict[str, type[BaseModel]] = {
    "input_sample": InputSample,
    "layer_profile": LayerProfile,
    "sidecar": VEASidecar,
    "shard_stats": ShardStats,
    "job_manifest": JobManifest,
    "prediction": Prediction,
    "score_report": ScoreReport,
}


def schema_text(model: type[BaseModel]) -> str:
    """The model's JSON Schema as deterministic, human-diffable text."""
    return json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"


def schema_path(name: str, directory: Path = SCHEMA_DIR) -> Path:
    return directory / f"{name}.schema.json"


def export_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write one ``<name>.schema.json`` per contract; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in CONTRACTS.items():
        path = schema_path(name, directory)
        path.write_text(schema_text(model), encoding="utf-8")
        written.append(path)
    return written


def stale_schemas(directory: Path = SCHEMA_DIR) -> list[str]:
    """Names of contracts whose exported file is missing or differs from the model."""
    stale = []
    for name, model in CONTRACTS.items():
        path = schema_path(name, directory)
        if not path.exists() or path.read_text(encoding="utf-8") != schema_text(model):
            stale.append(name)
    return stale


if __name__ == "__main__":
    for written_path in export_schemas():
        print(written_path)
