"""Default-deny access control for views.

Every view declares the capability it needs with `@capability("...")` (or `PUBLIC`). The
decision itself uses `request.capabilities`, computed once per request by the accounts app from
the user's role in the current partner (ARCHITECTURE section 4):

- not logged in: redirect to the login page;
- logged in but not a member of the partner in the URL: 404, so the partner's existence is not
  confirmed (refused before any view runs, by apps.accounts.middleware's partner gate);
- logged in without the capability: 403.

The permission-matrix test walks every URL pattern and fails on a view without a declaration.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase

PUBLIC = "public"
AUTHENTICATED = "authenticated"
# Called by a provider, not a person: the view itself verifies a signature or a secret in the
# URL and answers 403 (changing nothing) when it does not match.
WEBHOOK = "webhook"

View = Callable[..., HttpResponseBase]  # HttpResponse, or a StreamingHttpResponse


def has_capability(request: HttpRequest, name: str) -> bool:
    """Whether the request's role grants `name` (what a page uses to show or hide an action;
    the capabilities are set per request by apps.accounts.middleware)."""
    return name in getattr(request, "capabilities", frozenset())


def check_capability(request: HttpRequest, name: str) -> HttpResponse | None:
    """Return a response that refuses the request, or None when it may go on."""
    if name in (PUBLIC, WEBHOOK):
        return None
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if name == AUTHENTICATED:
        return None
    if not has_capability(request, name):
        raise PermissionDenied(f"Your role cannot do this ({name}).")
    return None


def capability(name: str) -> Callable[[View], View]:
    """Declare and enforce the capability a function view needs."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            refusal = check_capability(request, name)
            if refusal is not None:
                return refusal
            return view(request, *args, **kwargs)

        wrapped.capability = name  # type: ignore[attr-defined]
        return wrapped

    return decorator


class CapabilityMixin:
    """The class-based twin of `@capability`: set `capability = "..."` on the view."""

    capability: str = ""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not self.capability:
            raise PermissionDenied("This view declares no capability.")
        refusal = check_capability(request, self.capability)
        if refusal is not None:
            return refusal
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


def view_capability(view: Any) -> str | None:
    """The capability a resolved view declares, or None (used by the permission matrix)."""
    declared = getattr(view, "capability", None)
    if declared:
        return declared
    view_class = getattr(view, "view_class", None)
    return getattr(view_class, "capability", None) or None
