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

from apps.core.db import tenant_connection

# Django opens its psycopg connections with `prepare_threshold=None`, and psycopg then ignores
# `prepare=True` too: every call was parsed and planned again (1-2 ms for the redeem lock
# statement). A threshold no statement count reaches turns explicit preparation back on while
# psycopg still never prepares anything by itself (Django's own cursors bind on the client
# and are never prepared whatever the threshold).
_ONLY_WHEN_ASKED = 2**31 - 1


def prepared(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> psycopg.Cursor[Any]:
    """Execute `sql` as a prepared statement; returns the psycopg cursor to fetch from."""
    with connection.cursor():
        pass  # opens the connection and lets django-tenants set the schema's search_path
    return _execute_prepared(sql, params)


# The connection's search_path as PostgreSQL shows it, for `search_path_checked`: a statement
# that selects this as its last column tells whether django-tenants' SET is needed at all.
SEARCH_PATH_COLUMN = "current_setting('search_path')"


def prepared_before_search_path(
    sql: str, params: Sequence[Any] | Mapping[str, Any]
) -> psycopg.Cursor[Any]:
    """`prepared()` for a statement that names every table with its schema, so it can run
    before django-tenants sets the search_path (which costs a round trip on every request,
    since each `set_tenant` forgets what the server has). Pass the statement's
    SEARCH_PATH_COLUMN to `search_path_checked` afterwards."""
    connection.close_if_health_check_failed()  # what connection.cursor() does, minus the SET
    connection.ensure_connection()
    return _execute_prepared(sql, params)


def _execute_prepared(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> psycopg.Cursor[Any]:
    """Run `sql` with server-side binding on Django's open connection (whatever search_path it
    has now), preparing it once per connection."""
    pg = connection.connection
    if pg.prepare_threshold is None:
        pg.prepare_threshold = _ONLY_WHEN_ASKED
    cursor = psycopg.Cursor(pg)
    cursor.execute(sql, params, prepare=True)  # type: ignore[arg-type]
    return cursor


def search_path_checked(current: str) -> None:
    """When the server's search_path (`current`, read on this connection just now) is already
    the one django-tenants would set for the current schema, tell it so, and it skips its SET.
    Anything else (another partner, quoting we do not reproduce) leaves the SET to it."""
    wanted = tenant_connection._get_cursor_search_paths()
    if current == ", ".join(wanted):
        tenant_connection.search_path_set_schemas = wanted


def execute(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> int:
    """Run one set-based statement (UPDATE … FROM, INSERT … SELECT) on Django's connection, in
    the caller's transaction and schema; returns how many rows it touched."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
