"""The one JSON decoder every reader uses: hostile records become a reason, never a crash.

Python's ``json`` recurses once per nesting level (200k nested lists raise RecursionError and
can take the process with them), refuses integers over 4300 digits with a bare ValueError,
and happily returns lone surrogates that no UTF-8 writer can encode later. So before decoding,
the nesting depth is counted without recursion; integers are parsed under a digit limit; and
after decoding every string is checked for a lone surrogate. Each failure raises
:class:`JSONRecordError` with a reason specific enough for a person to fix the record, and
generic enough (no values in it) for ``errors_by_reason`` to group.
"""

from __future__ import annotations

import json
import re
from typing import Any

from vea_augment.errors import VEAError
from vea_augment.options import MAX_JSON_DEPTH, MAX_JSON_INT_DIGITS

# A JSON string (escapes included) or one bracket: strings are skipped whole so that
# brackets inside them do not count as nesting.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONRecordError(VEAError, ValueError):
    """A JSON record that cannot be decoded safely; the message is the reason."""


def _nesting(text: str, start: int = 0, whole: bool = True) -> tuple[int, int]:
    """``(deepest nesting, end)`` of the JSON text from ``start``.

    ``whole``: scan to the end of the text; else stop where the value starting at ``start``
    closes (``end`` is then the position after it, or the text's length if it never closes).
    """
    depth = deepest = 0
    for match in _TOKENS.finditer(text, start):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
            if depth <= 0 and not whole:
                return deepest, match.end()
    return deepest, len(text)


def _parse_int(max_digits: int) -> Any:
    def parse(digits: str) -> int:
        count = len(digits.lstrip("-"))
        if count > max_digits:
            raise JSONRecordError(f"integer with {count} digits (the limit is {max_digits})")
        return int(digits)

    return parse


def _lone_surrogate(value: Any) -> str | None:
    """The reason naming the first field holding a lone surrogate, or None."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            found = _SURROGATE.search(item)
            if found:
                where = f"field {path!r}" if path else "the record"
                return f"{where} holds a lone surrogate U+{ord(found.group()):04X}"
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                found = _SURROGATE.search(key)
                if found:
                    return f"a field name holds a lone surrogate U+{ord(found.group()):04X}"
                stack.append((f"{path}.{key}" if path else key, child))
        elif isinstance(item, list):
            stack.extend(
                (f"{path}.{i}" if path else str(i), c) for i, c in reversed(list(enumerate(item)))
            )
    return None


def _checked(value: Any) -> Any:
    problem = _lone_surrogate(value)
    if problem is not None:
        raise JSONRecordError(problem)
    return value


def _decoder(max_digits: int) -> json.JSONDecoder:
    return json.JSONDecoder(parse_int=_parse_int(max_digits))


def _malformed(exc: Exception) -> JSONRecordError:
    if isinstance(exc, JSONRecordError):
        return exc
    if isinstance(exc, json.JSONDecodeError):
        return JSONRecordError(f"malformed JSON: {exc.msg} (line {exc.lineno} column {exc.colno})")
    # RecursionError, or a ValueError of the int/float parsers: never let it escape
    return JSONRecordError(f"malformed JSON: {type(exc).__name__}: {exc}")


def load_json(
    data: str | bytes,
    *,
    max_depth: int = MAX_JSON_DEPTH,
    max_int_digits: int = MAX_JSON_INT_DIGITS,
) -> Any:
    """Decode one JSON document (bytes must be UTF-8); raises :class:`JSONRecordError` with
    the reason for anything too deep, too long, malformed or holding a lone surrogate."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JSONRecordError(f"not UTF-8: byte {exc.start} cannot be decoded") from exc
    text = data.lstrip("\ufeff")
    # cheap bound first: a text with few brackets cannot be deep
    if text.count("[") + text.count("{") > max_depth:
        deepest, _ = _nesting(text)
        if deepest > max_depth:
            raise JSONRecordError(f"json nested deeper than {max_depth} levels")
    try:
        return _checked(_decoder(max_int_digits).decode(text))
    except (ValueError, RecursionError) as exc:
        raise _malformed(exc) from None


def load_json_at(
    text: str,
    position: int,
    *,
    max_depth: int = MAX_JSON_DEPTH,
    max_int_digits: int = MAX_JSON_INT_DIGITS,
) -> tuple[Any, int, str | None]:
    """Decode the JSON value starting at ``position`` of ``text`` (one item of a JSON list).

    Returns ``(value, end, None)``, or ``(None, end, reason)`` for a value that is too deep,
    too long or holds a lone surrogate: ``end`` is then still past that value, so the
    following items can be read. A value that cannot be delimited raises JSONRecordError.
    """
    deepest, end = 0, position
    if text[position : position + 1] in ("[", "{"):
        deepest, end = _nesting(text, position, whole=False)
    if deepest > max_depth:
        return None, end, f"json nested deeper than {max_depth} levels"
    try:
        value, end = _decoder(max_int_digits).raw_decode(text, position)
    except JSONRecordError as exc:
        if end > position:
            return None, end, str(exc)
        raise
    except (ValueError, RecursionError) as exc:
        raise _malformed(exc) from None
    problem = _lone_surrogate(value)
    return (None, end, problem) if problem else (value, end, None)
