"""One bad sample must not sink its batch-mates: run the batch, else each sample alone."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from vea_augment.errors import VEAError

Item = TypeVar("Item")
Result = TypeVar("Result")


def batch_then_one_by_one(
    items: Sequence[Item],
    run: Callable[[Sequence[Item]], Sequence[Result]],
    on_failure: Callable[[Item, Exception], Result],
    errors: tuple[type[Exception], ...] = (VEAError,),
) -> list[Result]:
    """``run(items)``, one result per item in order; if it raises one of ``errors``, each
    item is run alone and an item that fails alone too becomes ``on_failure(item, error)``.

    A batch of one is not run twice. Errors not in ``errors`` propagate: they are bugs or
    resource failures that retrying sample by sample would only hide.
    """
    if not items:
        return []
    try:
        return _checked(items, run(items))
    except errors as error:
        if len(items) == 1:
            return [on_failure(items[0], error)]
    results: list[Result] = []
    for item in items:
        try:
            results += _checked([item], run([item]))
        except errors as error:
            results.append(on_failure(item, error))
    return results


def _checked(items: Sequence[object], results: Sequence[Result]) -> list[Result]:
    if len(results) != len(items):
        raise RuntimeError(f"a batch of {len(items)} gave {len(results)} results")
    return list(results)
