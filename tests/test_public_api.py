"""The Python API the README shows is importable from the package root, lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest

import vea_augment


@pytest.mark.parametrize("name", sorted(set(vea_augment.__all__) - {"__version__"}))
def test_every_public_name_resolves_to_the_object_of_its_home_module(name):
    value = getattr(vea_augment, name)
    assert value.__name__ == name
    assert value.__module__.startswith("vea_augment.")


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        _ = vea_augment.Nothing


def test_importing_the_package_and_its_math_does_not_import_torch():
    code = (
        "import sys, vea_augment; from vea_augment import MaskConfig, evidence_mask; "
        "print('torch' in sys.modules)"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert output.returncode == 0, output.stderr
    assert output.stdout.strip() == "False"


def test_the_readme_example_names_import():
    from vea_augment import Attributor, MaskConfig, ModelOptions, evidence_mask

    assert Attributor.from_pretrained.__doc__
    assert MaskConfig().alpha == 0.5
    assert ModelOptions().device is None
    assert callable(evidence_mask)
