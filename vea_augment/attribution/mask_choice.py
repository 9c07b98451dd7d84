"""Whose post-processing values a mask gets (augment's ``--preset``; issue 17 item 3).

Each of sigma, lambda, denoise and boundary comes from, in order: the user's own option
(command line, environment or ``--config`` file), else the preset: ``profile`` takes the
profile's measured choice (``profile.json``'s ``postprocessing.chosen``), ``paper`` the
paper's values (MaskConfig's defaults). Without ``--preset``, a profile holding a choice
means ``profile`` and anything else means ``paper``. The sibling of ``layer_choice``: the
profile says which layers to read and how to post-process what they give.
"""

from __future__ import annotations

from dataclasses import replace

from vea_augment.attribution.layer_choice import profile_file, read_layer_profile
from vea_augment.errors import ConfigError
from vea_augment.options import MaskConfig, MaskPreset

#: The knobs a profile chooses, and the option that sets each one explicitly.
KNOB_OPTIONS = {
    "sigma": "--sigma",
    "lam": "--lam",
    "denoise": "--no-denoise",
    "boundary": "--boundary",
}


def resolve_mask(
    mask: MaskConfig, explicit: set[str], preset: MaskPreset | None, profile: str | None
) -> tuple[MaskConfig, dict[str, str]]:
    """``mask`` (the options as given, paper's defaults elsewhere) with the preset's value
    for each knob not in ``explicit``, and where each knob's value came from.

    Raises :class:`ConfigError` for ``--preset profile`` without a profile that holds a
    post-processing choice.
    """
    choice, source = None, ""
    if profile and preset != "paper":
        path, source = profile_file(profile)
        choice = read_layer_profile(path).postprocessing
    if preset == "profile" and choice is None:
        problem = f"{source} holds none" if profile else "there is none"
        raise ConfigError(
            f"--preset profile needs a --profile holding a post-processing choice ({problem}: "
            "run `vea-augment profile` to measure one), or use --preset paper"
        )
    if choice is None:
        why = "default"
        if preset == "paper":
            why = "--preset paper"
        elif profile:
            why = f"{source} holds no choice"
        origin = f"paper ({why})"
        updates = {}
    else:
        origin = source
        updates = {
            knob: getattr(choice.chosen, knob) for knob in KNOB_OPTIONS if knob not in explicit
        }
    sources = {knob: KNOB_OPTIONS[knob] if knob in explicit else origin for knob in KNOB_OPTIONS}
    return replace(mask, **updates), sources


def describe_sources(mask: MaskConfig, sources: dict[str, str]) -> str:
    """One line: each knob's effective value and where it came from."""
    values = {
        "sigma": f"sigma {mask.sigma:g}",
        "lam": f"lambda {mask.lam:g}",
        "denoise": f"denoise {'on' if mask.denoise else 'off'}",
        "boundary": f"boundary {mask.boundary}",
    }
    return "post-processing: " + ", ".join(
        f"{values[knob]} ({origin})" for knob, origin in sources.items()
    )
