"""Which decoder layers (L_VG) to read: explicit, from a profile, or the paper's published set."""

from __future__ import annotations

import json
from pathlib import Path

from vea_augment.errors import ConfigError
from vea_augment.models.published_layers import published_layers_for, shipped_profile_path
from vea_augment.schemas.common import validate_record
from vea_augment.schemas.profile import LayerProfile


def parse_layer_list(text: str) -> tuple[int, ...]:
    """``"18,22,24"`` -> ``(18, 22, 24)``; refuses empty, negative or non-integer entries."""
    try:
        layers = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError as exc:
        raise ConfigError(f"--layers must be comma-separated integers, got {text!r}") from exc
    if not layers or layers[0] < 0:
        raise ConfigError(f"--layers must name at least one layer >= 0, got {text!r}")
    return layers


def read_layer_profile(path: Path) -> LayerProfile:
    """A profile JSON (written by ``vea-augment profile`` or shipped); clear errors if bad."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"profile {str(path)!r} is not valid JSON: {exc}") from exc
    return validate_record(LayerProfile, record, id_field="model_id")


def profile_file(profile: str) -> tuple[Path, str]:
    """The file ``--profile`` names (a profile JSON, or a model with published layers) and
    how to name it; :class:`ConfigError` when it is neither."""
    path = Path(profile)
    if path.is_file():
        return path, f"profile {profile}"
    shipped = shipped_profile_path(profile)
    if shipped is None:
        raise ConfigError(
            f"--profile {profile!r} is neither a profile file nor a model with published "
            "layers (see `vea-augment models`)"
        )
    return shipped, f"published profile {shipped.name}"


def resolve_layers(
    model: str, layers: str | None = None, profile: str | None = None
) -> tuple[tuple[int, ...], str]:
    """Return the layers to read and where they came from.

    ``profile`` may be a profile JSON file written by ``vea-augment profile`` or the hub id
    of a checkpoint whose layers the paper published. Without either, a known checkpoint
    uses its published layers and any other model is refused.
    """
    if layers and profile:
        raise ConfigError("give --layers or --profile, not both")
    if layers:
        return parse_layer_list(layers), "--layers"
    if profile:
        path, source = profile_file(profile)
        return tuple(read_layer_profile(path).chosen_layers), source
    published = published_layers_for(model)
    if published is not None:
        return published.layers, f"published layers of {published.model_id}"
    raise ConfigError(
        f"no visual-grounding layers known for {model!r}: run `vea-augment profile --model "
        f"{model} --input SAMPLES_WITH_BOXES --output profile.json` and pass --profile "
        "profile.json, or give --layers"
    )
