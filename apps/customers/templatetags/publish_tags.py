"""`{% publish_form customer %}`: the "Publish a code" card for the customer page, shown only
to people who may manage the audience (the view behind it checks again)."""

from __future__ import annotations

from typing import Any

from django import template

from apps.accounts.permissions import AUDIENCE_MANAGE
from apps.customers.models import Customer
from apps.customers.publish_views import publish_context

register = template.Library()


@register.inclusion_tag("customers/_publish_form.html", takes_context=True)
def publish_form(context: template.Context, customer: Customer) -> dict[str, Any]:

    request = context.get("request")
    if AUDIENCE_MANAGE not in getattr(request, "capabilities", frozenset()):
        return {"hidden": True}
    return {**publish_context(customer), "csrf_token": context.get("csrf_token")}
