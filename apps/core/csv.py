"""CSV downloads: one writer for every export in the product.

Rows are produced while the client reads them (a pool may hold a million codes), in the schema
the view ran in. Every cell goes through `cell()`, which also defuses spreadsheet formulas
(OWASP "CSV injection"): a customer name, a distribution name or a code a merchant typed is
text someone else opens in Excel.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.db import connection
from django.http import StreamingHttpResponse
from django_tenants.utils import schema_context


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a stream."""

    def write(self, value: str) -> str:
        return value


# A spreadsheet reads a cell starting with one of these as a formula (tab and carriage return
# too: some programs strip them and then see the next character).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Text that is only a signed number (an E.164 phone number, "-5") computes nothing but itself;
# it stays as it is, so an exported phone number imports back unchanged.
PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def cell(value: Any) -> Any:
    """One value as a CSV cell. Text that a spreadsheet would run as a formula gets a leading
    single quote (OWASP's advice), so it shows as typed and never runs. Numbers are left as
    numbers: a negative amount is an int here, not text, and stays `-5`."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_STARTS)
        and not PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def csv_text(*, header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    """A small CSV document as text (kept in a row, e.g. an import's error report), with the
    same cells as the streamed downloads."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([cell(value) for value in header])
    writer.writerows([cell(value) for value in row] for row in rows)
    return out.getvalue()


def streamed_csv(
    *, filename: str, header: Iterable[str], rows: Callable[[], Iterable[Iterable[Any]]]
) -> StreamingHttpResponse:
    """A CSV download produced row by row while the client reads it.

    The body is generated after the view has returned, when the routing middleware has already
    put the connection back on the public schema, so the generator re-enters the partner's
    schema itself; `rows` is called only inside it."""
    schema = connection.schema_name  # type: ignore[attr-defined]  # django-tenants' wrapper

    def stream() -> Iterator[str]:
        writer = csv.writer(_Echo())
        yield writer.writerow([cell(value) for value in header])
        with schema_context(schema):
            for row in rows():
                yield writer.writerow([cell(value) for value in row])

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
