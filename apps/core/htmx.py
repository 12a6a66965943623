"""Small helpers for views that answer both full-page and HTMX requests."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def render_page(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    fragment: str | None = None,
    status: int = 200,
) -> HttpResponse:
    """Render the page, or only `template#fragment` when htmx asks for a part of it.
    Boosted requests are whole-page navigations and get the full page."""
    htmx = getattr(request, "htmx", None)
    if fragment and htmx and not htmx.boosted:
        template = f"{template}#{fragment}"
    return render(request, template, context, status=status)
