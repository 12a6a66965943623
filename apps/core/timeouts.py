"""A statement cut by PostgreSQL's statement timeout (config/settings/base.py sets it per
process: short for web requests and API calls, longer for jobs) answers a clear 503, never a
hang or a bare 500. The API turns it into its own error body (apps/api/auth.py); every other
page gets the 503 page from here."""

from __future__ import annotations

from collections.abc import Callable

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.template import loader
from psycopg.errors import QueryCanceled

RETRY_AFTER_SECONDS = 30


def is_statement_timeout(exc: BaseException) -> bool:
    """Whether `exc` (Django's wrapper or the driver's own error) is a cancelled statement."""
    if isinstance(exc, QueryCanceled):
        return True
    return isinstance(exc, OperationalError) and isinstance(exc.__cause__, QueryCanceled)


class StatementTimeoutMiddleware:
    """Turns a view's cancelled statement into the 503 page with Retry-After."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_statement_timeout(exception):
            return None
        # No context processors: they query the database, which just refused to go on (and the
        # transaction may be the one that failed).
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
