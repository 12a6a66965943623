"""Which partner the database connection is working for.

A request's tenant is set by django-tenants' middleware; a job only knows the schema it runs in
(apps.core.jobs), so both are read here, in one place.
"""

from __future__ import annotations

from django.db import connection

from apps.core.db import tenant_connection
from apps.tenancy.models import Partner


def current_partner() -> Partner:
    """The partner whose schema the connection is in (a request's tenant or a job's)."""
    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Partner) and tenant.pk:
        return tenant
    return Partner.objects.get(schema_name=tenant_connection.schema_name)


def current_partner_id() -> int:
    """The id of `current_partner()`; one indexed query at most."""
    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Partner) and tenant.pk:
        return tenant.pk
    return Partner.objects.only("id").get(schema_name=tenant_connection.schema_name).pk
