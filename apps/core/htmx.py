"""Small helpers for views that answer both full-page and HTMX requests."""

from __future__ import annotations

from typing import Any

from django.forms import BaseForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def is_fragment(request: HttpRequest) -> bool:
    """Whether htmx asks for a part of the page. Boosted requests are whole-page navigations,
    so they are not: views skip work (counts, totals) only a full page shows."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted  # type: ignore[union-attr]


def render_page(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    fragment: str | None = None,
    status: int = 200,
) -> HttpResponse:
    """Render the page, or only `template#fragment` when htmx asks for a part of it."""
    if fragment and is_fragment(request):
        template = f"{template}#{fragment}"
    return render(request, template, context, status=status)


def render_form(
    request: HttpRequest,
    template: str,
    form: BaseForm,
    context: dict[str, Any] | None = None,
) -> HttpResponse:
    """A page around `form` (as `form` in the context): 400 while the form carries errors, so
    a refused post is not mistaken for a success by a client, a test or a proxy's cache."""
    return render_page(
        request, template, {"form": form, **(context or {})}, status=400 if form.errors else 200
    )
