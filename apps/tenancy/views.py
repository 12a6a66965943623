"""Partner portal pages that belong to no later app: the overview."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.accounts import permissions as perms
from apps.core.permissions import capability


@capability(perms.PORTAL_VIEW)
def portal_home(request: HttpRequest) -> HttpResponse:
    partner = request.tenant  # type: ignore[attr-defined]
    memberships = partner.memberships.select_related("user").order_by("role", "user__email")
    return render(request, "portal/home.html", {"partner": partner, "memberships": memberships})
