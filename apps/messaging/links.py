"""Absolute links to this partner's pages, built inside or outside a request (send jobs,
rendering): Twilio status callbacks, unsubscribe links, code images, webhook URLs."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection

from apps.core.db import tenant_connection
from apps.tenancy.models import Partner
from apps.tenancy.urlconf import partner_reverse


def current_partner() -> Partner:
    """The partner whose schema the connection is in (a request's tenant or a job's)."""
    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Partner):
        return tenant
    return Partner.objects.get(schema_name=tenant_connection.schema_name)


def partner_url(viewname: str, *, partner: Partner | None = None, **kwargs: Any) -> str:
    """`settings.SITE_URL` + the partner-portal path of `viewname`."""
    partner = partner or current_partner()
    return settings.SITE_URL + partner_reverse(partner.slug, viewname, **kwargs)
