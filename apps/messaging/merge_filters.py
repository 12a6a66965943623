"""The filters a message template may use, each wrapped so that it can neither fail nor grow
without bound while a message is rendered.

Django's filters trust their arguments: ``|wordwrap:0`` raises, ``|timeuntil`` on text raises,
``|floatformat:"100000000"`` builds a hundred-million-digit string, ``|join`` multiplies the
length of its input by its argument's. Here every allowed filter is wrapped:

- arguments that would make it spin are refused before it runs (`_PRECHECKS`), and a result
  longer than MAX_FILTER_OUTPUT is refused after, so a chain of filters stays bounded too;
- a failure (on a value other than None) raises `FilterFailed` while the compose-time check
  renders the template against sample contexts (inside `strict()`), so the person writing the
  message reads which filter fails and why; when a message is sent, the same failure (then
  caused by one customer's data, since the check passed) gives an empty value and a log line
  instead of a failed message.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal, InvalidOperation
from typing import Any

logger = logging.getLogger(__name__)

MAX_FILTER_OUTPUT = 100_000  # characters one filter may return
MAX_FLOATFORMAT_PLACES = 20
MAX_NUMBER_DIGITS = 100  # of a number |floatformat formats: int(Decimal("1e999999")) takes a minute

# How to use a filter right, appended to its failure.
HINTS = {
    "wordwrap": "it takes a line width of at least 1, e.g. |wordwrap:40",
    "timeuntil": "it applies to a date such as voucher.expiration_date, and takes no argument "
    "or another date",
    "floatformat": f"it takes a number of decimal places between -{MAX_FLOATFORMAT_PLACES} and "
    f"{MAX_FLOATFORMAT_PLACES}, e.g. |floatformat:2",
    "first": "it applies to a text or a list, not to a date or a number",
    "last": "it applies to a text or a list, not to a date or a number",
    "join": 'it applies to a list and takes a short separator, e.g. |join:", "',
    "truncatechars": "it takes a number of characters, e.g. |truncatechars:20",
    "truncatewords": "it takes a number of words, e.g. |truncatewords:10",
    "date": 'it applies to a date and takes a format, e.g. |date:"j F Y"',
    "time": 'it applies to a date and takes a format, e.g. |time:"H:i"',
}

_strict: ContextVar[bool] = ContextVar("merge_filters_strict", default=False)


class FilterFailed(Exception):
    """A filter that failed, or was refused, while rendering a template in `strict()` mode."""

    def __init__(self, name: str, arg: Any, reason: str) -> None:
        self.name, self.arg, self.reason = name, arg, reason
        super().__init__(self.sentence)

    @property
    def written(self) -> str:
        return f"|{self.name}" if self.arg is None else f"|{self.name}:{str(self.arg)[:40]!r}"

    @property
    def sentence(self) -> str:
        hint = HINTS.get(self.name, "check its argument and the merge tag it applies to")
        return (
            f"The filter {self.written} fails when the message is rendered ({self.reason}); {hint}."
        )


class _Refused(Exception):
    pass


@contextmanager
def strict() -> Iterator[None]:
    """Inside the block a failing filter raises FilterFailed instead of giving ""."""
    token = _strict.set(True)
    try:
        yield
    finally:
        _strict.reset(token)


def _places(arg: Any) -> None:
    text = str(arg).rstrip("gu")  # Django's suffixes: g (grouping), u (unlocalized)
    try:
        places = int(text) if len(text) <= 12 else None
    except ValueError:
        return  # floatformat itself ignores an argument that is not a number
    if places is None or abs(places) > MAX_FLOATFORMAT_PLACES:
        raise _Refused(f"{str(arg)[:20]} decimal places is too many")


def _floatformat(value: Any, arg: Any = -1, *_: Any) -> None:
    _places(arg)
    try:
        number = Decimal(str(value).strip())  # linear in the length; int() of it is not
    except (InvalidOperation, ValueError):
        return  # not a number: floatformat gives "" for it
    if number.is_finite() and (
        len(number.as_tuple().digits) > MAX_NUMBER_DIGITS
        or abs(number.adjusted()) > MAX_NUMBER_DIGITS
    ):
        raise _Refused(f"the number has more than {MAX_NUMBER_DIGITS} digits")


def _join(value: Any, arg: Any = "", *_: Any) -> None:
    if isinstance(value, (str, list, tuple)):
        size = sum(len(str(item)) for item in value) + len(value) * len(str(arg))
        if size > MAX_FILTER_OUTPUT:
            raise _Refused(f"the result would be longer than {MAX_FILTER_OUTPUT:,} characters")


_PRECHECKS: dict[str, Callable[..., None]] = {"floatformat": _floatformat, "join": _join}


def guarded(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """`func` (a Django filter) bounded and unable to fail; `functools.wraps` keeps its flags
    (is_safe, needs_autoescape, …) and lets the parser check its arguments on the original."""
    precheck = _PRECHECKS.get(name)

    @functools.wraps(func)
    def filter_(value: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            if precheck is not None:
                precheck(value, *args)
            result = func(value, *args, **kwargs)
            if isinstance(result, str) and len(result) > MAX_FILTER_OUTPUT:
                raise _Refused(f"its result is longer than {MAX_FILTER_OUTPUT:,} characters")
        except Exception as exc:  # any failure of a filter: see the module docstring
            reason = str(exc).strip() or type(exc).__name__
            failure = FilterFailed(name, args[0] if args else None, reason[:200])
            # A filter of no value (a JSON null in metadata) is no value, as a missing key is;
            # the check's other contexts still catch an argument that always fails.
            if value is None:
                return ""
            if _strict.get():
                raise failure from exc
            logger.warning("merge-tag filter failed while rendering: %s", failure.sentence)
            return ""
        return result

    return filter_
