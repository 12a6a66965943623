"""`django.db.connection` typed as what it always is here: django-tenants' PostgreSQL wrapper
(the ENGINE of every settings module), so its schema attributes type-check.

`tenant_connection` is the same object as `django.db.connection` (the per-thread proxy); the
cast only tells the type checker, which sees Django's BaseDatabaseWrapper.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.db import connection

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

    class TenantDatabaseWrapper(BaseDatabaseWrapper):
        """What django_tenants.postgresql_backend.base.DatabaseWrapper adds (it has no
        type information of its own)."""

        schema_name: str  # "public" until a tenant is set
        tenant: Any  # the Partner, or django-tenants' FakeTenant for a bare schema
        search_path_set_schemas: list[str] | None

        def set_tenant(self, tenant: Any, include_public: bool = True) -> None: ...
        def set_schema_to_public(self) -> None: ...
        def _get_cursor_search_paths(self) -> list[str]: ...


tenant_connection = cast("TenantDatabaseWrapper", connection)
