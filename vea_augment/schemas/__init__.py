"""The data contracts (pydantic models); their JSON Schemas ship in ``schemas/json/``."""

from vea_augment.schemas.common import EvidenceBox, validate_record
from vea_augment.schemas.manifest import JobManifest
from vea_augment.schemas.prediction import Prediction
from vea_augment.schemas.profile import ExcludedSample, HeadScore, LayerProfile, LayerScore
from vea_augment.schemas.report import Interval, MethodScores, ProtocolInfo, ScoreReport
from vea_augment.schemas.sample import InputSample, parse_input_sample
from vea_augment.schemas.sidecar import MaskQuality, SampleTiming, VEASidecar, ViewGrid
from vea_augment.schemas.stats import FailureRecord, MaskQualityStats, ShardStats

__all__ = [
    "EvidenceBox",
    "ExcludedSample",
    "FailureRecord",
    "HeadScore",
    "InputSample",
    "Interval",
    "JobManifest",
    "LayerProfile",
    "LayerScore",
    "MaskQuality",
    "MaskQualityStats",
    "MethodScores",
    "Prediction",
    "ProtocolInfo",
    "SampleTiming",
    "ScoreReport",
    "ShardStats",
    "VEASidecar",
    "ViewGrid",
    "parse_input_sample",
    "validate_record",
]
