"""JSON that PostgreSQL can store: one decoder for every body (API requests, the customer
form's metadata, CSV import metadata cells) and one check for values already parsed.

Python's `json` accepts what PostgreSQL refuses or what makes a later step fail:

- `NaN`, `Infinity`, `-Infinity` (and `1e999`, which Python reads as infinity): not JSON, and
  jsonb refuses them, so saving the row fails;
- whole numbers of thousands of digits (Python refuses past 4,300 digits with a ValueError
  instead of a JSON error) and ones outside PostgreSQL's bigint range, which no integer
  column or numeric comparison can take;
- NUL (`\\u0000`) in a string or key: PostgreSQL text and jsonb cannot hold it;
- nesting deeper than MAX_DEPTH levels.

Each is refused with `JsonValueError`, whose sentence names the field path
(“metadata.score”, “order.items[2].price”) and says what to send instead."""

from __future__ import annotations

import json
import math
from typing import Any

from apps.core.errors import DomainError

BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1
# Longest digit string that can be within bigint: checked before int() converts it.
_BIGINT_DIGITS = len(str(BIGINT_MAX))
MAX_DEPTH = 32


class JsonValueError(DomainError):
    """JSON that cannot be used; `path` names where (empty for the whole document) and
    `syntax` tells a document that is not JSON at all from one with a value we refuse."""

    key = "invalid_json"

    def __init__(self, message: str, *, path: str = "", syntax: bool = False) -> None:
        super().__init__(message)
        self.path = path
        self.syntax = syntax

    def explained(self, what_to_send: str) -> str:
        """The message for a person; a document that is not JSON at all also says what to
        send instead (`what_to_send`, a sentence without its full stop)."""
        return f"{self.message[:-1]}; {what_to_send}." if self.syntax else self.message


class _Refused:
    """What the decoder's hooks put in place of a number that cannot be kept, so that the
    walk afterwards can say where it was."""

    def __init__(self, text: str) -> None:
        self.text = text


def _parse_int(text: str) -> int | _Refused:
    if len(text.lstrip("-")) > _BIGINT_DIGITS:
        return _Refused(text)
    number = int(text)
    return number if BIGINT_MIN <= number <= BIGINT_MAX else _Refused(text)


def _parse_float(text: str) -> float | _Refused:
    number = float(text)
    return number if math.isfinite(number) else _Refused(text)


def loads(raw: str | bytes, *, root: str = "", label: str = "The JSON") -> Any:
    """Parse `raw` and check every value (see the module docstring). `root` is the name of the
    whole document in field paths ("metadata" → “metadata.score”); empty for a request body,
    whose fields are named from the top (“order.amount”), which `label` then names."""
    try:
        value = json.loads(
            raw, parse_constant=_Refused, parse_int=_parse_int, parse_float=_parse_float
        )
    except RecursionError:
        raise _too_deep(root, label) from None
    except UnicodeDecodeError:
        raise JsonValueError(f"{_name(root, label)} is not UTF-8 text; send UTF-8 JSON.") from None
    except json.JSONDecodeError as exc:
        raise JsonValueError(
            f"{_name(root, label)} is not valid JSON: {exc.msg} at line {exc.lineno}, column "
            f"{exc.colno}.",
            syntax=True,
        ) from None
    check(value, root=root, label=label)
    return value


def check(value: Any, *, root: str = "", label: str = "The JSON") -> None:
    """Refuse a parsed value PostgreSQL cannot store (a form's or an import's metadata, or
    what `loads` parsed), naming the first bad field. Iterative: a deep value cannot exhaust
    the stack, and the depth limit applies as it does to `loads`."""
    stack: list[tuple[Any, str, int]] = [(value, root, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict | list | tuple) and depth >= MAX_DEPTH:
            raise _too_deep(root, label)
        if isinstance(item, dict):
            for key, child in reversed(item.items()):
                if not isinstance(key, str):
                    key = str(key)  # json.dumps writes such keys as strings
                if "\x00" in key:
                    raise JsonValueError(
                        f"{_name(path, label)} has a key with a NUL character (\\u0000), which "
                        "cannot be stored; remove it.",
                        path=path,
                    )
                stack.append((child, _join(path, key), depth + 1))
        elif isinstance(item, list | tuple):
            for index in reversed(range(len(item))):
                stack.append((item[index], f"{path}[{index}]", depth + 1))
        else:
            _check_scalar(item, path, label)


def _check_scalar(item: Any, path: str, label: str) -> None:
    where = _name(path, label)
    if isinstance(item, str):
        if "\x00" in item:
            raise JsonValueError(
                f"{where} contains a NUL character (\\u0000), which cannot be stored; remove it.",
                path=path,
            )
        return
    if item is None or isinstance(item, bool):
        return
    if isinstance(item, _Refused):
        item = item.text
    elif isinstance(item, float):
        if math.isfinite(item):
            return
        item = str(item)
    elif isinstance(item, int):
        if BIGINT_MIN <= item <= BIGINT_MAX:
            return
        digits = int(abs(item).bit_length() * math.log10(2)) + 1
        if digits >= 4000:  # str() refuses past 4,300 digits
            raise _too_large(f"a whole number of about {digits:,} digits", path, label)
        item = str(item)
    else:
        raise JsonValueError(
            f"{where} is a {type(item).__name__}, which JSON cannot hold; send a string, a "
            "number, true/false, null, a list or an object.",
            path=path,
        )
    raise _bad_number(item, path, label)


def _bad_number(text: str, path: str, label: str) -> JsonValueError:
    where = _name(path, label)
    if text.lower() in ("nan", "infinity", "-infinity", "inf", "-inf") or "e" in text.lower():
        shown = text if len(text) <= 24 else text[:20] + "…"
        return JsonValueError(
            f"{where} is {shown}, which cannot be stored as a number (NaN, infinities and "
            "numbers beyond ±1.7e308 are refused); send a finite number, null, or the value as "
            "a string.",
            path=path,
        )
    shown = text if len(text) <= 24 else f"{text[:20]}… ({len(text.lstrip('-')):,} digits)"
    return _too_large(f"{shown}, a whole number", path, label)


def _too_large(what: str, path: str, label: str) -> JsonValueError:
    return JsonValueError(
        f"{_name(path, label)} is {what} outside what can be stored: whole numbers must be from "
        f"{BIGINT_MIN:,} to {BIGINT_MAX:,}. Send a smaller number, or the value as a string.",
        path=path,
    )


def _too_deep(root: str, label: str) -> JsonValueError:
    return JsonValueError(
        f"{_name(root, label)} is nested too deeply: at most {MAX_DEPTH} levels of lists and "
        "objects."
    )


def _join(path: str, key: str) -> str:
    key = key if len(key) <= 40 else key[:40] + "…"
    key = key or '""'
    return f"{path}.{key}" if path else key


def _name(path: str, label: str) -> str:
    return f"“{path}”" if path else label
