"""Work out, once per request, who the user is in the current partner."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from apps.accounts.models import Membership
from apps.accounts.permissions import BRAND_ADMIN, capabilities_for


class RoleMiddleware:
    """Sets `request.role`, `request.membership`, `request.capabilities` and
    `request.foreign_partner` (logged in, but nothing to do with the partner in the URL)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.role = None  # type: ignore[attr-defined]
        request.membership = None  # type: ignore[attr-defined]
        request.foreign_partner = False  # type: ignore[attr-defined]
        user = request.user
        partner = getattr(request, "tenant", None)
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
                else:
                    request.foreign_partner = True  # type: ignore[attr-defined]
        request.capabilities = capabilities_for(request.role)  # type: ignore[attr-defined]
        return self.get_response(request)
