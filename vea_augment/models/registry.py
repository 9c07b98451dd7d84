"""Registry of family adapters, keyed by ``config.model_type``.

Adapters register themselves with :func:`register_adapter` when their module is imported;
:func:`load_all_adapters` imports every module of ``vea_augment.models.families``, so a new
family is one new file there (and its test) and nothing else changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from vea_augment.errors import ConfigError
from vea_augment.models.adapter import FamilyAdapter

_ADAPTERS: dict[str, type[FamilyAdapter]] = {}


def register_adapter(cls: type[FamilyAdapter]) -> type[FamilyAdapter]:
    """Class decorator: serve every ``model_type`` in ``cls.model_types`` with ``cls``."""
    if not cls.model_types:
        raise TypeError(f"{cls.__name__} declares no model_types")
    for model_type in cls.model_types:
        existing = _ADAPTERS.get(model_type)
        if existing is not None and existing is not cls:
            raise TypeError(f"model_type {model_type!r} already served by {existing.__name__}")
        _ADAPTERS[model_type] = cls
    return cls


def load_all_adapters() -> None:
    """Import every module of ``vea_augment.models.families`` so their adapters register."""
    package = importlib.import_module("vea_augment.models.families")
    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{module.name}")


def registered_adapters() -> dict[str, type[FamilyAdapter]]:
    """All registered adapters by model_type (after importing every adapter module)."""
    load_all_adapters()
    return dict(sorted(_ADAPTERS.items()))


def adapter_for(config: Any, processor: Any) -> FamilyAdapter:
    """The adapter serving ``config.model_type``; a clear error lists the supported ones."""
    adapters = registered_adapters()
    model_type = getattr(config, "model_type", None)
    cls = adapters.get(model_type)
    if cls is None:
        supported = ", ".join(adapters) or "(none registered)"
        raise ConfigError(
            f"no attribution adapter for model_type {model_type!r}; supported: {supported}. "
            "Answering with such a model works without an adapter (vea-augment answer)."
        )
    return cls(config, processor)
