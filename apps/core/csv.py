"""CSV downloads: one writer for every export in the product.

Rows are produced while the client reads them (a pool may hold a million codes), in the schema
the view ran in.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.db import connection
from django.http import StreamingHttpResponse
from django_tenants.utils import schema_context


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a stream."""

    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return "" if value is None else value


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
        yield writer.writerow(list(header))
        with schema_context(schema):
            for row in rows():
                yield writer.writerow([_cell(value) for value in row])

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
