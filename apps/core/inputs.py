"""The input layer for what comes in the address: control characters in query parameters and
path segments are refused here, before routing, for every page, fragment, export and API call.

Why: PostgreSQL text cannot hold NUL (a filter with one fails inside the database, a CSV export
stops half-way), and no search box, filter or id legitimately holds a control character. So:

- a query parameter (name or value) with one → 400 naming the parameter;
- a path with one → 404 (no object has such an id);

the /v1 API answering in its own JSON error shape, every other address with an error page.
Tabs and line breaks stay allowed in query values (a pasted search term may carry them)."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from apps.core.errors import TITLES, error_body, new_request_id

# The /v1 API (config/urls.py): its callers read JSON, not an HTML page.
API_PATH_PREFIX = "/v1/"

# Unicode's control characters (C0, DEL, C1), less tab, line feed and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# In a path, none at all.
_PATH_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def control_character(text: str, *, strict: bool = False) -> str | None:
    """The first control character in `text` written as `\\u0000`, or None. `strict` also
    refuses tab and line breaks (paths)."""
    match = (_PATH_CONTROL if strict else _CONTROL).search(text)
    return f"\\u{ord(match.group()):04x}" if match else None


def query_problem(request: HttpRequest) -> str | None:
    """A sentence naming the first query parameter that holds a control character."""
    for name, values in request.GET.lists():
        found = control_character(name)
        if found:
            return (
                f"A query parameter's name contains a control character ({found}); "
                "remove it from the address and try again."
            )
        for value in values:
            found = control_character(value)
            if found:
                return (
                    f"The query parameter “{name[:40]}” contains a control character "
                    f"({found}), which no search, filter or id may hold; remove it and try again."
                )
    return None


class InputCharactersMiddleware:
    """Refuses control characters in the path (404) and query string (400). Place it first:
    it touches no database, and nothing after it then sees such a value."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        api = request.path_info.startswith(API_PATH_PREFIX)
        found = control_character(request.path_info, strict=True)
        if found:
            details = (
                f"The address contains a control character ({found}), so nothing can be found "
                "there; check the id in the address."
            )
            if api:
                return _json_error(404, "not_found", details)
            raise Http404(details)
        problem = query_problem(request)
        if problem:
            if api:
                return _json_error(400, "invalid_param", problem)
            return render(request, "400.html", {"problem": problem}, status=400)
        return self.get_response(request)


def _json_error(status: int, key: str, details: str) -> JsonResponse:
    rid = new_request_id()
    response = JsonResponse(error_body(status, key, TITLES[status], details, rid), status=status)
    response["X-Request-Id"] = rid
    return response
