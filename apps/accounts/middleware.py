"""Work out, once per request, who the user is in the current partner, and keep everyone who
has nothing to do with a partner out of its pages.

The partner gate is the one rule for a /p/<slug>/… path, whatever its shape (with or without a
trailing slash, deep or not) and whether or not the partner exists:

- provider callbacks and recipients' links (views declared WEBHOOK or PUBLIC) of a partner
  that exists go on to their view, which checks its signature or token; of one that does not,
  they are a 404;
- anonymous: the login redirect, for a partner that exists and for one that does not;
- signed in, neither a member of the partner nor a brand admin (or no such partner): the same
  404 page, rendered outside any partner. It runs before CommonMiddleware, so no APPEND_SLASH
  redirect can reveal that a partner's page exists.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import Resolver404, resolve, set_urlconf

from apps.accounts.models import Membership
from apps.accounts.permissions import BRAND_ADMIN, capabilities_for
from apps.core.db import tenant_connection
from apps.core.permissions import PUBLIC, WEBHOOK, view_capability
from apps.tenancy.urlconf import partner_urlconf


class RoleMiddleware:
    """Sets `request.role`, `request.membership` and `request.capabilities`; refuses partner
    paths as the module docstring says. Must come after AuthenticationMiddleware and before
    CommonMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.role = None  # type: ignore[attr-defined]
        request.membership = None  # type: ignore[attr-defined]
        user = request.user
        partner = getattr(request, "tenant", None)
        slug = getattr(request, "partner_slug", None)
        callback = slug is not None and _is_callback(request, slug)
        if callback and partner is None:
            return self._refuse(request, not_found=True)
        if slug is not None and not callback and (partner is None or not user.is_authenticated):
            return self._refuse(request)
        if user.is_authenticated:
            if partner is None:
                request.role = BRAND_ADMIN if user.is_brand_admin else None  # type: ignore
            else:
                membership = (
                    Membership.objects.filter(user=user, partner=partner)
                    .select_related("partner")
                    .first()
                )
                if membership is not None:
                    request.membership = membership  # type: ignore[attr-defined]
                    request.role = membership.role  # type: ignore[attr-defined]
                elif user.is_brand_admin:
                    request.role = BRAND_ADMIN  # type: ignore[attr-defined]
                elif slug is not None and not callback:
                    return self._refuse(request)
        request.capabilities = capabilities_for(request.role)  # type: ignore[attr-defined]
        return self.get_response(request)

    @staticmethod
    def _refuse(request: HttpRequest, *, not_found: bool = False) -> HttpResponse:
        if not request.user.is_authenticated and not not_found:
            return redirect_to_login(request.get_full_path())
        # Rendered as for a public page: nothing of the partner (its name in the sidebar) may
        # show, so the page is the same whether the partner exists or not.
        request.tenant = None  # type: ignore[attr-defined]
        request.urlconf = None  # type: ignore[attr-defined]
        set_urlconf(None)
        tenant_connection.set_schema_to_public()
        raise Http404("No such page.")


def _is_callback(request: HttpRequest, slug: str) -> bool:
    """Whether the path is a provider callback or a recipient's link
    (these carry their own proof and are used without a session), whether or not the partner
    exists. The partner's URLs are built from the slug alone, so resolving costs no query."""
    try:
        # Django takes the urlconf module itself; the stubs only allow a dotted path (str).
        match = resolve(request.path_info, urlconf=partner_urlconf(slug))  # type: ignore[arg-type]
    except Resolver404:
        return False
    return view_capability(match.func) in (PUBLIC, WEBHOOK)
