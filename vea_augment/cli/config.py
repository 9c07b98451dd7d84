"""What the ``cli`` group itself takes: ``--config FILE``, ``-q`` and ``--log-level``.

A config file (TOML, or YAML: ``.yaml``/``.yml``) holds option values under the options'
own names, dashes or underscores alike (``batch-size`` = ``batch_size``; ``input``,
``output``, ``format`` as on the command line). Two shapes, freely mixed:

* flat keys apply to the invoked command;
* a table/mapping named after a command (``[augment]``, ``answer:``) applies to that command
  only, and wins over a flat key of the same name.

The values become that command's click ``default_map``: the command line wins over the
file, the file over the built-in defaults (:mod:`vea_augment.options`). A key the command
(or its section's command) does not take is an error naming it and listing the valid ones.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOGGER = "vea_augment"


def read_config_file(path: Path) -> dict[str, Any]:
    """The file's top-level mapping: TOML via tomllib, YAML (``.yaml``/``.yml``) via PyYAML."""
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            loaded = yaml.safe_load(text) or {}
        else:
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10: the same parser as tomli
                import tomli as tomllib  # type: ignore[no-redef]

            loaded = tomllib.loads(text)
    except Exception as error:  # any parse error is the file's fault
        raise click.BadParameter(f"cannot read {path}: {error}", param_hint="--config") from error
    if not isinstance(loaded, dict):
        raise click.BadParameter(f"{path} must hold a mapping of options", param_hint="--config")
    return loaded


def _key(name: str) -> str:
    return name.strip().lstrip("-").replace("-", "_")


def _names(command: click.Command) -> dict[str, click.Parameter]:
    """Every name a config key may use for ``command``'s parameters: the parameter's own
    name and each long option name, dashes turned to underscores."""
    names: dict[str, click.Parameter] = {}
    for param in command.params:
        if param.name is None or not param.expose_value or getattr(param, "hidden", False):
            continue
        if isinstance(param, click.Option):
            for opt in param.opts + param.secondary_opts:
                if opt.startswith("--"):
                    names[_key(opt)] = param
        names[_key(param.name)] = param
    return names


def _value(param: click.Parameter, value: Any) -> Any:
    if isinstance(value, list) and not param.multiple and param.nargs == 1:
        return ",".join(map(str, value))
    return value


def command_defaults(command: click.Command, values: Mapping[str, Any], where: str) -> dict:
    """``values`` as ``command``'s ``default_map`` (parameter name -> value)."""
    names = _names(command)
    unknown = sorted(key for key in values if _key(key) not in names)
    if unknown:
        valid = sorted({name.replace("_", "-") for name in names})
        raise click.UsageError(
            f"{where}: unknown option(s) {', '.join(unknown)} for {command.name}; valid: "
            f"{', '.join(valid)}"
        )
    return {names[_key(k)].name: _value(names[_key(k)], v) for k, v in values.items()}


def default_map(group: click.Group, config: Mapping[str, Any], invoked: str | None, where: str):
    """The group's ``default_map`` (``{command: {param: value}}``) from a config mapping."""
    sections = {key: value for key, value in config.items() if key in group.commands}
    for name, section in sections.items():
        if not isinstance(section, dict):
            raise click.UsageError(f"{where}: section {name!r} must be a mapping of options")
    flat = {key: value for key, value in config.items() if key not in sections}
    result = {
        name: command_defaults(group.commands[name], section, f"{where} [{name}]")
        for name, section in sections.items()
    }
    if invoked in group.commands:
        command = group.commands[invoked]
        merged = {**command_defaults(command, flat, where), **result.get(invoked, {})}
        result[invoked] = merged
    elif flat:
        raise click.UsageError(f"{where}: flat keys need a command to apply to")
    return result


def configure_logging(level: str | None, quiet: bool) -> None:
    """The ``vea_augment`` logger at ``level`` (-q: WARNING); transformers' and Ray's loggers
    (and their environment settings, which Ray workers inherit) follow at WARNING or ERROR."""
    name = level or ("WARNING" if quiet else None)
    if name is None:
        return
    numeric = getattr(logging, name)
    logger = logging.getLogger(LOGGER)
    logger.setLevel(numeric)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    if numeric < logging.WARNING:
        return  # transformers' and Ray's INFO/DEBUG floods would drown the tool's own
    import os

    os.environ["TRANSFORMERS_VERBOSITY"] = name.lower()
    os.environ["RAY_BACKEND_LOG_LEVEL"] = name.lower()
    for other in ("transformers", "ray"):
        logging.getLogger(other).setLevel(numeric)


def group_options(command: Any) -> Any:
    """``--config``, ``-q/--quiet`` and ``--log-level`` on the ``cli`` group."""
    decorators = (
        click.option(
            "--config",
            "config_file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="TOML or YAML file of option values (flat keys for the invoked command, or "
            "a section per command); the command line wins over it.",
        ),
        click.option(
            "-q", "--quiet", is_flag=True, help="Warnings and errors only, no progress bars."
        ),
        click.option(
            "--log-level",
            type=click.Choice(LOG_LEVELS, case_sensitive=False),
            help="Level of the vea_augment logger (and of transformers and Ray where they "
            "follow it). Default: INFO messages as printed by each command.",
        ),
    )
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def apply_group_options(
    ctx: click.Context, config_file: Path | None, quiet: bool, log_level: str | None
) -> None:
    """Run in the group callback, before the subcommand's context exists."""
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet
    configure_logging(log_level.upper() if log_level else None, quiet)
    if config_file is not None:
        config = read_config_file(config_file)
        assert isinstance(ctx.command, click.Group)
        ctx.default_map = default_map(ctx.command, config, ctx.invoked_subcommand, str(config_file))
