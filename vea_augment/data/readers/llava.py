"""LLaVA / ShareGPT conversations, as JSON lines or one JSON list.

A record is ``{"id", "image", "conversations": [{"from": "human", "value": "<image>\\nQ"},
{"from": "gpt", "value": "A"}, ...]}``: the question is the first human turn without the
``<image>`` placeholder, the reference answer the first gpt turn after it, and the record
keeps its ``conversations`` as they were. A record without a human turn is an error record
naming its id.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from vea_augment.data.readers.records import (
    _normalise_record,
    json_list_items,
    jsonl_items,
    record_samples,
)
from vea_augment.data.readers.sample import RawSample
from vea_augment.data.sources import ShardTask

IMAGE_PLACEHOLDER = "<image>"
HUMAN_ROLES = ("human", "user")
ANSWER_ROLES = ("gpt", "assistant")


def _turn(turns: list[Any], roles: tuple[str, ...], after: int = 0) -> int | None:
    for index in range(after, len(turns)):
        turn = turns[index]
        is_turn = isinstance(turn, dict) and isinstance(turn.get("value"), str)
        if is_turn and turn.get("from") in roles:
            return index
    return None


def question_text(value: str) -> str:
    """The question of a human turn: the text around the ``<image>`` placeholder."""
    parts = (part.strip() for part in value.split(IMAGE_PLACEHOLDER))
    return "\n".join(part for part in parts if part)


def llava_record(
    record: dict[str, Any], number: int, tag: str
) -> tuple[dict[str, Any], str | None]:
    """The record with ``question`` and ``answers`` taken from its conversation, or why not."""
    normalised = _normalise_record(record, number, tag)
    who = f"record {str(normalised['id'])!r}"
    turns = record.get("conversations")
    if not isinstance(turns, list):
        return normalised, f"{who} has no 'conversations' list"
    human = _turn(turns, HUMAN_ROLES)
    if human is None:
        return normalised, f"{who} has no human turn in 'conversations'"
    question = question_text(turns[human]["value"])
    if not question:
        return normalised, f"{who}: the first human turn holds no question besides the image"
    normalised.setdefault("question", question)
    answer = _turn(turns, ANSWER_ROLES, after=human + 1)
    if answer is not None and "answers" not in record:
        normalised["answers"] = [turns[answer]["value"]]
    return normalised, None


def read_llava_jsonl_shard(task: ShardTask) -> Iterator[RawSample]:
    """Yield the samples of lines ``[task.start, task.stop)`` of a LLaVA JSONL file."""
    return record_samples(task, jsonl_items(task), llava_record)


def read_llava_json_shard(task: ShardTask) -> Iterator[RawSample]:
    """Yield the samples of records ``[task.start, task.stop)`` of a LLaVA JSON list."""
    return record_samples(task, json_list_items(task), llava_record)
