"""Hand-written SQL stays in step with the models: every column list of an INSERT or COPY in the
app code names exactly the model's concrete columns (less its serial id), or the columns it
leaves out on purpose are listed here with the reason. A migration that adds a column to a
model makes this test name the statements to update, instead of a NOT NULL error in
production or a column silently left empty."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from django.apps import apps as django_apps

APPS = Path(__file__).resolve().parents[2] / "apps"
STATEMENT = re.compile(
    r"(?:INSERT\s+INTO|COPY)\s+(?P<table>\{[^}]+\}|[\w.]+)(?:\s+AS\s+\w+)?\s*\((?P<columns>\{[^}]*\}|[^)]*)\)",
    re.IGNORECASE,
)
# Statements that name their table as a function's argument: file → the table.
TABLE_ARGUMENTS = {"apps/customers/import_sql.py": "customers_customer"}
# (file, table) → columns left out on purpose, with why.
LEFT_OUT: dict[tuple[str, str], set[str]] = {
    # new codes are unpublished
    ("apps/campaigns/services.py", "campaigns_voucher"): {"published_at"},
    # a recipient starts waiting: no code, publication or message yet; the fan-out serves
    # an audience, not an event
    ("apps/distributions/pipeline/automatic.py", "distributions_recipient"): {
        "messaged_at",
        "publication_id",
        "voucher_id",
    },
    ("apps/distributions/pipeline/fanout.py", "distributions_recipient"): {
        "event_id",
        "messaged_at",
        "publication_id",
        "voucher_id",
    },
    # a queued message has not been claimed, sent, delivered or retried yet
    ("apps/messaging/bulk.py", "messaging_outboxmessage"): {
        "claimed_at",
        "delivered_at",
        "next_attempt_at",
        "sent_at",
    },
}


def _models_by_table() -> dict[str, type]:
    return {m._meta.db_table: m for m in django_apps.get_models()}


def _table(expression: str, path: Path) -> str | None:
    """The table a statement names: literally, as `{Model._meta.db_table}`, or as a module
    constant `{_NAME}`. None for a temporary table."""
    if not expression.startswith("{"):
        name = expression.removeprefix("public.")
        return None if name.startswith("pg_temp.") else name
    inner = expression.strip("{}")
    if inner.endswith("._meta.db_table"):
        model_name = inner.removesuffix("._meta.db_table")
        matches = [m for m in django_apps.get_models() if m.__name__ == model_name]
        assert len(matches) == 1, f"{path}: cannot tell which model {model_name} is"
        return matches[0]._meta.db_table
    where = str(path.relative_to(APPS.parent))
    if inner == "table" and where in TABLE_ARGUMENTS:
        return TABLE_ARGUMENTS[where]
    value = getattr(_module(path), inner, None)
    assert isinstance(value, str), (
        f"{path}: the table of a hand-written statement is {{{inner}}}, which is not a module "
        "constant; name the table with a module-level constant or the model's db_table"
    )
    return value


def _module(path: Path):
    return importlib.import_module(".".join(path.relative_to(APPS.parent).with_suffix("").parts))


def _columns(text: str, path: Path) -> list[str]:
    """The listed columns; `{", ".join(NAME)}` is the module constant NAME."""
    joined = re.fullmatch(r'\{"\s*,\s*"\.join\((\w+)\)\}', text.strip())
    if joined:
        return list(getattr(_module(path), joined[1]))
    return [c.strip() for c in text.split(",") if c.strip()]


def _statements() -> list[tuple[str, str, list[str]]]:
    found = []
    for path in sorted(APPS.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        # Join implicitly concatenated string literals ("a, " "b") split over lines.
        text = re.sub(r'"\s*(?:#[^\n]*)?\n\s*f?"', "", path.read_text())
        for match in STATEMENT.finditer(text):
            table = _table(match["table"], path)
            if table is None or table.startswith("pg_temp") or table.isupper():
                continue
            where = str(path.relative_to(APPS.parent))
            columns = _columns(match["columns"], path)
            found.append((where, table, columns))
    return found


STATEMENTS = _statements()


def test_the_scan_finds_the_hand_written_statements():
    # the hot paths the issue named are all seen (a regex that matched nothing would pass)
    tables = {table for _, table, _ in STATEMENTS}
    assert {
        "redemptions_redemption",
        "redemptions_redemptionattempt",
        "messaging_outboxmessage",
        "api_idempotentrequest",
        "customers_publication",
        "customers_event",
        "campaigns_voucher",
        "brand_rollupdelta",
    } <= tables


@pytest.mark.parametrize(
    ("where", "table", "columns"),
    STATEMENTS,
    ids=[f"{where}:{table}" for where, table, _ in STATEMENTS],
)
def test_a_column_list_names_every_column_of_its_model(where, table, columns):
    # given the model behind the table
    model = _models_by_table().get(table)
    assert model is not None, f"{where}: no model has the table {table}"
    assert not any("{" in c for c in columns), f"{where}: name {table}'s columns in a constant"
    concrete = {f.column for f in model._meta.concrete_fields}
    # then every listed column exists …
    assert set(columns) - concrete == set(), f"{where}: {table} has no such column"
    # … and every column of the model is listed, but the id and those left out on purpose
    missing = concrete - set(columns) - {model._meta.pk.column}
    assert missing == LEFT_OUT.get((where, table), set()), (
        f"{where}: the INSERT/COPY into {table} does not set {sorted(missing)}; add them, or "
        "list them in LEFT_OUT with the reason"
    )
