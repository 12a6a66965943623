"""Template context shared by every page: navigation, role and the partner switcher."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from apps.accounts.models import Membership
from apps.accounts.navigation import nav_items


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    context: dict[str, Any] = {
        "product_name": settings.PRODUCT_NAME,
        "current_partner": getattr(request, "tenant", None),
        "role": getattr(request, "role", None),
    }
    if user is None or not user.is_authenticated:
        return context
    context["nav"] = nav_items(request)
    context["my_memberships"] = list(
        Membership.objects.filter(user=user, partner__status="ready")
        .select_related("partner")
        .order_by("partner__name")
    )
    return context
