"""Raw SQL on the hot paths, as server-side prepared statements.

Django's psycopg backend binds parameters on the client, so PostgreSQL plans every statement
again; for the few statements run on every API call, planning costs more than running them.
`prepared()` runs a statement on Django's own connection (same transaction, same
django-tenants search_path) through a psycopg cursor with server-side binding and
`prepare=True`, so each connection plans it once. PostgreSQL re-plans by itself when the
search_path changes, so one prepared statement serves every partner schema.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from django.db import connection


def prepared(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> psycopg.Cursor[Any]:
    """Execute `sql` as a prepared statement; returns the psycopg cursor to fetch from."""
    with connection.cursor():
        pass  # opens the connection and lets django-tenants set the schema's search_path
    cursor = psycopg.Cursor(connection.connection)
    cursor.execute(sql, params, prepare=True)  # type: ignore[arg-type]
    return cursor
