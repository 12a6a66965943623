"""The SQL half of the customer CSV import (see apps.customers.importing for the whole
story): the temp table the parsed rows are COPYed into, and the one transaction that resolves
duplicates and conflicts, then updates and inserts customers with their events."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from apps.core.csv import csv_text
from apps.customers.fields import CHANNELS, CONSENT_COLUMNS, CONSENT_FIELDS, TEXT_FIELDS
from apps.customers.models import Customer, Event

MATCH_CHOICES = (("source_id", "Source ID"), ("email", "Email"))


@dataclass
class Outcome:
    total: int = 0
    created: int = 0
    updated: int = 0
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (row, column, problem)

    @property
    def failed_rows(self) -> int:
        return len({row for row, _column, _problem in self.errors})

    @property
    def unchanged(self) -> int:
        return self.total - self.failed_rows - self.created - self.updated

    def report_csv(self) -> str:
        # The column names and problems quote the uploaded file: the same cells as an export.
        return csv_text(header=["row", "column", "problem"], rows=sorted(self.errors))


# What a row of the file can set, besides consent (given or withdrawn per channel).
ROW_FIELDS = ("source_id", "email", *TEXT_FIELDS, "birthdate", "metadata")
# The columns a new customer gets (tests/core/test_sql_columns.py checks them against the model).
INSERT_COLUMNS = [*ROW_FIELDS, *CONSENT_COLUMNS, "created_at", "updated_at"]
TEMP = "pg_temp.customer_import_rows"
TEMP_COLUMNS = ("row_no", *ROW_FIELDS, *CONSENT_FIELDS)


def create_temp_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TEMP}")
        cursor.execute(
            f"CREATE TEMP TABLE {TEMP.split('.')[1]} (row_no integer PRIMARY KEY, "
            "source_id text, email text, "
            + ", ".join(f"{name} text" for name in TEXT_FIELDS)
            + ", birthdate date, metadata jsonb, "
            + ", ".join(f"{name} boolean" for name in CONSENT_FIELDS)
            + ")"
        )


def drop_temp_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TEMP}")


def upsert(
    match_on: str, outcome: Outcome, event_payload: dict[str, Any], column_of: dict[str, str]
) -> None:
    """Resolve duplicates and conflicts, then update and insert (see the module docstring).
    Problems found here name the CSV column through `column_of` (field → column)."""
    table = Customer._meta.db_table
    other = "email" if match_on == "source_id" else "source_id"
    labels = dict(MATCH_CHOICES)
    with connection.cursor() as cursor:
        # Portal edits and API upserts wait the few seconds this takes; without the lock a
        # customer created meanwhile could break the checks below.
        cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(f"ANALYZE {TEMP}")
        # 1. The same key twice in the file: the last row wins.
        for key in (match_on, other):
            cursor.execute(
                f"""
                DELETE FROM {TEMP} i USING (
                    SELECT row_no, max(row_no) OVER (PARTITION BY {key}) AS last_row
                    FROM {TEMP} WHERE {key} IS NOT NULL
                ) d
                WHERE i.row_no = d.row_no AND d.row_no < d.last_row
                RETURNING i.row_no, i.{key}, d.last_row
                """  # noqa: S608 - identifiers are ours
            )
            for row_no, value, last_row in cursor.fetchall():
                if key == match_on:
                    problem = (
                        f"Skipped: row {last_row} has the same {labels[key].lower()} "
                        f"“{value}” further down, and the last row wins."
                    )
                else:
                    problem = (
                        f"Not imported: row {last_row} gives the same {labels[key].lower()} "
                        f"“{value}” to another customer, and one {labels[key].lower()} belongs "
                        "to one customer only."
                    )
                outcome.errors.append((row_no, column_of.get(key, key), problem))
        # 2. The other unique value already belongs to a different existing customer.
        same = (
            "c.source_id = i.source_id" if match_on == "source_id" else "lower(c.email) = i.email"
        )
        held = "lower(c.email) = i.email" if other == "email" else "c.source_id = i.source_id"
        cursor.execute(
            f"""
            DELETE FROM {TEMP} i USING {table} c
            WHERE i.{other} IS NOT NULL AND {held} AND NOT ({same})
            RETURNING i.row_no, i.{other}, c.id
            """  # noqa: S608
        )
        for row_no, value, holder in cursor.fetchall():
            outcome.errors.append(
                (
                    row_no,
                    column_of.get(other, other),
                    f"“{value}” already belongs to another customer (#{holder}); a "
                    f"{labels[other].lower()} belongs to one customer only.",
                )
            )
        if match_on == "email":
            # An import fills in a missing source ID but never replaces one: other records
            # (orders, the partner's own systems) point at it.
            cursor.execute(
                f"""
                DELETE FROM {TEMP} i USING {table} c
                WHERE {same} AND i.source_id IS NOT NULL AND c.source_id IS NOT NULL
                  AND c.source_id <> i.source_id
                RETURNING i.row_no, i.source_id, c.source_id
                """  # noqa: S608
            )
            for row_no, value, current in cursor.fetchall():
                outcome.errors.append(
                    (
                        row_no,
                        column_of.get("source_id", "source_id"),
                        f"This customer already has the source ID “{current}”; an import does "
                        f"not replace it with “{value}”. Change it on the customer's page.",
                    )
                )
        outcome.updated = _update(cursor, table, same, match_on, event_payload)
        outcome.created = _insert(cursor, table, same, event_payload)


def _consent_sql(channel: str) -> str:
    c, i = f"t.{channel}_consent", f"i.{channel}_consent"
    keep = f"{i} IS NULL OR {i} = {c}"
    return (
        f"{channel}_consent = COALESCE({i}, {c}), "
        f"{channel}_consent_source = CASE WHEN {keep} THEN t.{channel}_consent_source "
        f"WHEN {i} THEN 'import' ELSE '' END, "
        f"{channel}_consent_at = CASE WHEN {keep} THEN t.{channel}_consent_at "
        f"WHEN {i} THEN now() END"
    )


def _events_sql(kind: str, source: str) -> str:
    return (
        f"INSERT INTO {Event._meta.db_table} (customer_id, type, payload, created_at) "  # noqa: S608
        f"SELECT id, 'customer.{kind}', %s::jsonb, now() FROM {source}"
    )


def _update(cursor: Any, table: str, same: str, match_on: str, payload: dict[str, Any]) -> int:
    sets = [f"{name} = COALESCE(i.{name}, t.{name})" for name in (*TEXT_FIELDS, "birthdate")]
    changed = [f"(i.{name} IS NOT NULL AND i.{name} <> t.{name})" for name in TEXT_FIELDS]
    changed.append("(i.birthdate IS NOT NULL AND i.birthdate IS DISTINCT FROM t.birthdate)")
    if match_on == "source_id":
        sets.append("email = COALESCE(i.email, t.email)")
        changed.append("(i.email IS NOT NULL AND i.email IS DISTINCT FROM t.email)")
    else:
        sets.append("source_id = COALESCE(t.source_id, i.source_id)")
        changed.append("(t.source_id IS NULL AND i.source_id IS NOT NULL)")
    sets.append("metadata = t.metadata || COALESCE(i.metadata, '{}'::jsonb)")
    changed.append("(i.metadata IS NOT NULL AND t.metadata || i.metadata <> t.metadata)")
    for channel in CHANNELS:
        sets.append(_consent_sql(channel))
        changed.append(
            f"(i.{channel}_consent IS NOT NULL AND i.{channel}_consent <> t.{channel}_consent)"
        )
    cursor.execute(
        f"""
        WITH changed AS (
            UPDATE {table} t SET {", ".join(sets)}, updated_at = now()
            FROM {TEMP} i
            WHERE {same.replace("c.", "t.")} AND ({" OR ".join(changed)})
            RETURNING t.id
        ), events AS ({_events_sql("updated", "changed")})
        SELECT count(*) FROM changed
        """,  # noqa: S608
        [json.dumps(payload)],
    )
    return cursor.fetchone()[0]


def _insert(cursor: Any, table: str, same: str, payload: dict[str, Any]) -> int:
    consent = []
    for channel in CHANNELS:
        i = f"i.{channel}_consent"
        consent += [
            f"COALESCE({i}, false)",
            f"CASE WHEN {i} THEN 'import' ELSE '' END",
            f"CASE WHEN {i} THEN now() END",
        ]
    values = [
        "i.source_id",
        "i.email",
        *[f"COALESCE(i.{name}, '')" for name in TEXT_FIELDS],
        "i.birthdate",
        "COALESCE(i.metadata, '{}'::jsonb)",
        *consent,
        "now()",
        "now()",
    ]
    cursor.execute(
        f"""
        WITH added AS (
            INSERT INTO {table} ({", ".join(INSERT_COLUMNS)})
            SELECT {", ".join(values)} FROM {TEMP} i
            WHERE NOT EXISTS (SELECT 1 FROM {table} c WHERE {same})
            ORDER BY i.row_no
            RETURNING id
        ), events AS ({_events_sql("created", "added")})
        SELECT count(*) FROM added
        """,  # noqa: S608
        [json.dumps(payload)],
    )
    return cursor.fetchone()[0]
