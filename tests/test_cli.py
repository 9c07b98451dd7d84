"""The command line: version, help, the self-check, and honest 'not yet' exits."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from vea_augment import __version__
from vea_augment.cli import cli

SUBCOMMANDS = [
    "profile",
    "augment",
    "answer",
    "score",
    "export",
    "analyze",
    "demo",
    "models",
    "self-check",
]


def test_version_prints_the_package_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"vea-augment, version {__version__}"


def test_every_design_subcommand_is_registered():
    assert set(SUBCOMMANDS) <= set(cli.commands)


def test_models_lists_the_published_layers():
    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 0
    assert "Qwen/Qwen2.5-VL-7B-Instruct      L=28  L_VG=18,22,24" in result.output


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_command_explains_itself_in_help(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    description = result.output.split("\n\n")[1].strip()
    assert len(description) > 30, f"{command} --help has no real description"


def test_self_check_passes_offline_without_ray():
    result = CliRunner().invoke(cli, ["self-check", "--skip-ray"])
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output
    assert "all 4 checks passed." in result.output


def test_augment_help_explains_the_options():
    result = CliRunner().invoke(cli, ["augment", "--help"])
    assert result.exit_code == 0
    for option in ("--model", "--layers", "--profile", "--alpha", "--sigma", "--on-error"):
        assert option in result.output


def test_augment_refuses_a_model_without_known_layers_and_points_at_profile(tmp_path):
    result = CliRunner().invoke(
        cli,
        ["augment", "--model", "some/unknown-vlm", "--input", "x.tar", "--output", str(tmp_path)],
    )
    assert result.exit_code != 0
    assert "vea-augment profile" in result.output


def test_augment_boundary_reaches_the_mask_config_and_defaults_to_the_paper_s(tmp_path):
    from vea_augment.cli.augment import augment_command, mask_config

    base = ["--model", "m", "--input", "x.tar", "--output", str(tmp_path)]
    chosen = augment_command.make_context("augment", [*base, "--boundary", "normalized"])
    assert mask_config(chosen.params).boundary == "normalized"
    default = augment_command.make_context("augment", base)
    assert mask_config(default.params).boundary == "reflect"


def test_augment_refuses_an_unknown_boundary(tmp_path):
    base = ["augment", "--model", "m", "--input", "x.tar", "--output", str(tmp_path)]
    result = CliRunner().invoke(cli, [*base, "--boundary", "wrap"])
    assert result.exit_code == 2
    assert "Invalid value for '--boundary'" in result.output
    assert "'reflect', 'constant', 'normalized'" in result.output
