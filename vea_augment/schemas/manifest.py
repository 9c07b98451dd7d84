"""The job manifest ``_manifest.json``: the full configuration and package versions."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from vea_augment.schemas.common import Contract


class JobManifest(Contract):
    """Everything needed to reproduce (or resume) a job."""

    command: str = Field(description="augment, profile, answer, ...")
    tool_version: str
    created: str
    input: str
    output: str
    config: dict[str, Any] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=dict, description="Package -> version.")
    identity: dict[str, Any] = Field(
        default_factory=dict,
        description="What the outputs are a function of: input, model and the options that "
        "shape them (not actors, address, progress, limit). Empty in manifests written "
        "before identities existed.",
    )
    fingerprint: str | None = Field(
        default=None, description="sha256 of the identity's canonical JSON (sorted keys)."
    )
