"""Named scoring protocols: ``paper``, ``strict``, ``vqa``, ``anls``, ``relaxed``.

Published numbers for one model move by tens of points on the protocol alone (how answers
are normalised, whether EM means equality or containment), so every number a score report
shows is named by its protocol. :data:`PROTOCOLS` maps each name to its
:class:`~vea_augment.method.protocols.types.Protocol`; a module of this package that defines
``PROTOCOL`` is registered under that protocol's name, so a new protocol is one file (and
its test). Pure Python: ``paper``'s F1 reads lemminflect's lexicon on first use.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Sequence

from vea_augment.errors import ConfigError
from vea_augment.method.protocols.types import Metric, Protocol


def _discover() -> dict[str, Protocol]:
    found: dict[str, Protocol] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda item: item.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        protocol = getattr(module, "PROTOCOL", None)
        if isinstance(protocol, Protocol):
            if protocol.name in found:
                raise RuntimeError(f"two scoring protocols are named {protocol.name!r}")
            found[protocol.name] = protocol
    return found


PROTOCOLS: dict[str, Protocol] = _discover()
"""Every scoring protocol by name."""


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name``; :class:`ConfigError` naming the known ones otherwise."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        known = ", ".join(sorted(PROTOCOLS))
        raise ConfigError(f"unknown scoring protocol {name!r}; known: {known}") from None


def parse_protocols(text: str | Iterable[str]) -> list[Protocol]:
    """Protocols from ``"paper,strict"`` (or a list of names): in order, each once.

    Raises :class:`ConfigError` on an unknown name or an empty list.
    """
    names = text.split(",") if isinstance(text, str) else list(text)
    chosen = [get_protocol(name.strip()) for name in names if name.strip()]
    if not chosen:
        raise ConfigError("choose at least one scoring protocol")
    return list({protocol.name: protocol for protocol in chosen}.values())


def metric_lookup(protocols: Sequence[Protocol]) -> dict[str, tuple[Protocol, Metric]]:
    """Metric id (``paper.exact_match``) -> its protocol and metric, in protocol order."""
    return {
        protocol.metric_id(metric): (protocol, metric)
        for protocol in protocols
        for metric in protocol.metrics
    }


__all__ = [
    "PROTOCOLS",
    "Metric",
    "Protocol",
    "get_protocol",
    "metric_lookup",
    "parse_protocols",
]
