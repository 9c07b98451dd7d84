"""Which mask options the user set on augment's command line; the rule that fills in the
rest from ``--preset`` and ``--profile`` is ``attribution/mask_choice.py``.
"""

from __future__ import annotations

import click
from click.core import ParameterSource

_PARAMETERS = {"sigma": "sigma", "lam": "lam", "denoise": "no_denoise", "boundary": "boundary"}


def explicit_knobs(ctx: click.Context) -> set[str]:
    """The knobs whose option the user set (anything but click's own default)."""
    return {
        knob
        for knob, parameter in _PARAMETERS.items()
        if ctx.get_parameter_source(parameter) not in (None, ParameterSource.DEFAULT)
    }
