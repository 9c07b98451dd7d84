"""The answering methods of the paper's comparison: which prompt and which images each uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from vea_augment.errors import ConfigError
from vea_augment.models.prompting import PromptStyle, question_text
from vea_augment.schemas.prediction import ImageKind, Method


@dataclass(frozen=True)
class MethodSpec:
    """One method: the prompt style and the images, in the order they are shown."""

    name: Method
    prompt_style: PromptStyle
    images: tuple[ImageKind, ...]

    def text(self, question: str) -> str:
        """The user text of this method for ``question``."""
        return question_text(question, self.prompt_style)


METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec("base", "base", ("original",)),
        MethodSpec("inst", "vea", ("original",)),
        MethodSpec("vea", "vea", ("highlighted",)),
        MethodSpec("vea-no-prompt", "base", ("highlighted",)),
        MethodSpec("vea-both", "vea", ("original", "highlighted")),
        # A perfect VEA mask: Eq. 4 from the ground-truth boxes, so the VEA prompt.
        MethodSpec("oracle", "vea", ("oracle",)),
    )
}
assert set(METHODS) == set(get_args(Method))


def parse_methods(text: str) -> list[MethodSpec]:
    """Comma-separated method names, in the given order, without repeats.

    Raises :class:`ConfigError` naming the unknown ones and listing the valid names.
    """
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ConfigError(f"--methods is empty; choose from {', '.join(METHODS)}")
    unknown = [name for name in names if name not in METHODS]
    if unknown:
        raise ConfigError(
            f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}"
        )
    return [METHODS[name] for name in dict.fromkeys(names)]
