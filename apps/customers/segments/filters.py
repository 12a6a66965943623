# ruff: noqa: S608, S611 - this module builds SQL from whitelisted fragments; values are params
"""The segment filter language and its compiler to one parametrised SQL query.

A filter is ``{"match": "all" | "any", "conditions": [{"field", "op", "value"}, ...]}``.
`compile_filter` turns it into ``SELECT c.id FROM customers_customer c [LEFT JOIN LATERAL
…] WHERE …`` plus its parameters. Values only ever travel as query parameters; identifiers
(columns, tables) come from the FIELDS whitelist below, never from the filter. The compiler
is pure: it does not touch the database, so it can validate a filter anywhere (forms, the
API, jobs); `segment_queryset` / `segment_count` / `segment_sample` at the end run it.

Order and publication aggregates come from a LEFT JOIN LATERAL per source, added only when a
condition uses it; "has an unredeemed code" and "event in the last N days" are EXISTS on the
customer row. With "match all", the column tests run in the scan of the customers and the
lateral aggregate is looked up (by index on customer_id) only for the customers still in the
running, as a hand-written query would; EXISTS becomes a semi-join when that is cheaper.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from apps.customers.models import Customer

MAX_CONDITIONS = 20
MAX_DAYS = 36_500
# Bounds of a condition's value. A number fits a bigint (the counts and amounts it is compared
# with) and is at most MAX_NUMBER_CHARS characters long; a date lies between MIN_DATE and
# MAX_DATE; a text is at most MAX_TEXT characters, a list at most MAX_LIST_ITEMS values.
MAX_NUMBER = 2**63 - 1
MAX_NUMBER_CHARS = 30
MAX_DECIMALS = 10
MIN_DATE = dt.date(1900, 1, 1)
MAX_DATE = dt.date(2200, 12, 31)
MAX_TEXT = 1000
MAX_LIST_ITEMS = 1000
# Plain decimal notation, an exponent allowed ("2.5e3", at most 9 digits so `Decimal` takes
# it); no "inf", "nan", "1_000", spaces or non-ASCII digits.
_NUMBER_TEXT = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,9})?$")

# Operators per value type, in the order the builder offers them, with their labels.
OPERATORS: dict[str, dict[str, str]] = {
    "text": {
        "is": "is",
        "is_not": "is not",
        "contains": "contains",
        "starts_with": "starts with",
        "in": "is one of",
        "is_set": "is set",
        "is_not_set": "is not set",
    },
    "number": {
        "eq": "=",
        "ne": "≠",
        "gt": ">",
        "lt": "<",
        "gte": "≥",
        "lte": "≤",
        "is_set": "is set (more than 0)",
    },
    "date": {
        "before": "before",
        "after": "after",
        "in_last_days": "in the last N days",
        "is_set": "is set",
    },
    "bool": {"is_true": "is yes", "is_false": "is no"},
    # has_unredeemed_code_from: value is a campaign id.
    "campaign": {"is": "from campaign", "is_not": "not from campaign"},
    # event_in_last_days: value is {"type": ..., "days": N}.
    "event": {"is_true": "happened", "is_false": "did not happen"},
}
# Metadata values are text, compared as numbers when the operator is numeric.
OPERATORS["metadata"] = {
    **{k: v for k, v in OPERATORS["text"].items()},
    **{k: v for k, v in OPERATORS["number"].items() if k != "is_set"},
}

NUMERIC_OPS = {"eq": "=", "ne": "<>", "gt": ">", "lt": "<", "gte": ">=", "lte": "<="}
NO_VALUE_OPS = {"is_set", "is_not_set", "is_true", "is_false"}


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    type: str
    sql: str = ""  # a whitelisted SQL expression over the customer row `c`
    nullable: bool = False  # text: NULL means "not set" as much as ""
    lateral: str = ""  # the LATERALS aggregate the expression reads from


_PUBLICATIONS = (
    "customers_publication p JOIN campaigns_voucher v ON v.id = p.voucher_id "
    "WHERE p.customer_id = c.id"
)
# Per-customer aggregates, joined only when a condition uses them. An aggregate without
# GROUP BY yields exactly one row, so every customer keeps its row (count 0, sum 0, max NULL).
LATERALS = {
    "ord": (
        "LEFT JOIN LATERAL (SELECT count(*) AS orders_count, "
        "coalesce(sum(o.amount) FILTER (WHERE o.status <> 'CANCELED'), 0) AS total_spent, "
        "max(o.created_at) AS last_order_date "
        "FROM customers_order o WHERE o.customer_id = c.id) ord ON TRUE"
    ),
    "pub": (
        "LEFT JOIN LATERAL (SELECT count(*) AS codes_published, "
        "count(*) FILTER (WHERE v.redeemed_quantity > 0) AS codes_redeemed "
        f"FROM {_PUBLICATIONS}) pub ON TRUE"
    ),
}

FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field("name", "Name", "text", "c.name"),
        Field("email", "Email", "text", "c.email", nullable=True),
        Field("phone", "Phone", "text", "c.phone"),
        Field("source_id", "Source id", "text", "c.source_id", nullable=True),
        Field("city", "City", "text", "c.city"),
        Field("country", "Country", "text", "c.country"),
        Field("postal_code", "Postal code", "text", "c.postal_code"),
        Field("birthdate", "Birthdate", "date", "c.birthdate"),
        Field("created_at", "Customer since", "date", "c.created_at"),
        Field("email_consent", "Email consent", "bool", "c.email_consent"),
        Field("sms_consent", "SMS consent", "bool", "c.sms_consent"),
        Field("orders_count", "Number of orders", "number", "ord.orders_count", lateral="ord"),
        Field(
            "total_spent", "Total spent (minor units)", "number", "ord.total_spent", lateral="ord"
        ),
        Field("last_order_date", "Last order date", "date", "ord.last_order_date", lateral="ord"),
        Field("codes_published", "Codes published", "number", "pub.codes_published", lateral="pub"),
        Field("codes_redeemed", "Codes redeemed", "number", "pub.codes_redeemed", lateral="pub"),
        Field("has_unredeemed_code_from", "Has an unredeemed code", "campaign"),
        Field("event_in_last_days", "Event", "event"),
    )
}
METADATA_PREFIX = "metadata."
_METADATA_KEY = re.compile(r"^[A-Za-z0-9_\-.: ]{1,100}$")
# Only values that look like numbers are cast, so a text value never breaks the query.
_NUMERIC_RE = r"'^\s*-?[0-9]+(\.[0-9]+)?\s*$'"


class FilterError(ValueError):
    """An invalid filter. `errors` lists (index, field, message) per faulty condition
    (index 0-based, None for the filter as a whole); str() is every message, joined."""

    def __init__(self, errors: list[tuple[int | None, str, str]]) -> None:
        self.errors = errors
        super().__init__(" ".join(message for _, _, message in errors))

    def for_condition(self, index: int) -> str:
        return " ".join(m for i, _, m in self.errors if i == index)

    @property
    def general(self) -> str:
        return " ".join(m for i, _, m in self.errors if i is None)


class _Bad(Exception):
    pass


def field_for(name: str) -> Field | None:
    """The field definition for a filter field name (metadata keys included), or None."""
    if name in FIELDS:
        return FIELDS[name]
    if name.startswith(METADATA_PREFIX):
        key = name[len(METADATA_PREFIX) :]
        if _METADATA_KEY.match(key):
            return Field(name, f"Metadata “{key}”", "metadata")
    return None


def operators_for(name: str) -> dict[str, str]:
    field = field_for(name)
    return OPERATORS[field.type] if field else {}


# --- value parsing ---------------------------------------------------------------------------


def _number(value: Any) -> Decimal:
    """A number the database columns can compare with, parsed without ever computing a huge
    one: the text is checked for shape and length before `Decimal` sees it, and the magnitude
    before anything converts it to an int (``int(Decimal("1e999999"))`` runs for minutes)."""
    if isinstance(value, bool):
        raise _Bad("needs a number, not yes/no; enter a number such as 2500.")
    text = str(value).strip() if isinstance(value, (str, int, float, Decimal)) else ""
    if len(text) > MAX_NUMBER_CHARS:
        raise _Bad(
            f"has a number longer than {MAX_NUMBER_CHARS} characters; "
            "enter a number such as 2500 or 19.99."
        )
    if not _NUMBER_TEXT.match(text):
        raise _Bad(f"“{text or value}” is not a number; enter a number such as 2500.")
    number = Decimal(text)
    if abs(number) > MAX_NUMBER:
        raise _Bad(
            f"“{text}” is too large; enter a number between {-MAX_NUMBER:,} and {MAX_NUMBER:,}."
        )
    if number and number.as_tuple().exponent < -MAX_DECIMALS:  # type: ignore[operator]
        raise _Bad(f"“{text}” has too many decimal places; use at most {MAX_DECIMALS}, e.g. 19.99.")
    return number


def _days(value: Any) -> int:
    text = str(value).strip()
    if len(text) > 12 or not re.fullmatch(r"[+-]?[0-9]+", text):
        raise _Bad(f"“{value}” is not a number of days; enter a whole number such as 30.")
    days = int(text)
    if not 1 <= days <= MAX_DAYS:
        raise _Bad(f"the number of days must be between 1 and {MAX_DAYS:,}.")
    return days


def _date(value: Any) -> dt.date:
    """A day between MIN_DATE and MAX_DATE: outside them PostgreSQL or Python's date
    arithmetic ("after" adds a day) would fail at every later evaluation of the segment."""
    if isinstance(value, dt.datetime):
        day = value.date()
    elif isinstance(value, dt.date):
        day = value
    else:
        text = str(value).strip()
        try:
            if len(text) > 32:
                raise ValueError
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise _Bad(
                f"“{value}” is not a date; enter it as YYYY-MM-DD, e.g. 2024-05-31."
            ) from None
    if not MIN_DATE <= day <= MAX_DATE:
        raise _Bad(
            f"“{day.isoformat()}” is out of range; enter a date between "
            f"{MIN_DATE.isoformat()} and {MAX_DATE.isoformat()}."
        )
    return day


def _text(value: Any) -> str:
    if value is None or isinstance(value, (dict, list)):
        raise _Bad("needs a text value; type the text to compare with.")
    text = str(value).strip()
    if not text:
        raise _Bad("needs a value; type the text to compare with.")
    if len(text) > MAX_TEXT:
        raise _Bad(f"has a text longer than {MAX_TEXT:,} characters; shorten it.")
    return text


def _text_list(value: Any) -> list[str]:
    items = value if isinstance(value, list) else str(value or "").split(",")
    texts = [str(item).strip() for item in items if str(item).strip()]
    if not texts:
        raise _Bad("needs at least one value; separate several values with commas.")
    if len(texts) > MAX_LIST_ITEMS:
        raise _Bad(f"has more than {MAX_LIST_ITEMS:,} values; split it into several segments.")
    if any(len(text) > MAX_TEXT for text in texts):
        raise _Bad(f"has a value longer than {MAX_TEXT:,} characters; shorten it.")
    return texts


def _normalize_value(field: Field, op: str, value: Any) -> Any:
    """The value in its canonical form (what is stored), or _Bad with the problem."""
    if field.type == "event":
        if not isinstance(value, dict):
            raise _Bad("needs an event type and a number of days.")
        event_type = str(value.get("type") or "").strip()
        if not event_type:
            raise _Bad("needs an event type, e.g. order.paid.")
        if len(event_type) > 100:
            raise _Bad("has an event type longer than 100 characters; shorten it.")
        return {"type": event_type, "days": _days(value.get("days"))}
    if op in NO_VALUE_OPS:
        return None
    if field.type == "campaign":
        text = str(value).strip()
        if not (re.fullmatch(r"[0-9]{1,18}", text) and int(text) > 0):
            raise _Bad("needs a campaign; choose one from the list.")
        return int(text)
    if op == "in_last_days":
        return _days(value)
    if field.type == "date":
        return _date(value).isoformat()
    if op in NUMERIC_OPS:
        number = _number(value)
        return int(number) if number == number.to_integral_value() else str(number)
    if op == "in":
        return _text_list(value)
    return _text(value)


def normalize_filter(data: Any) -> dict[str, Any]:
    """Validate a filter and return its canonical form; FilterError lists every problem,
    each naming its condition by position and field."""
    if not isinstance(data, dict):
        raise FilterError([(None, "", "The filter must be an object with match and conditions.")])
    match = data.get("match", "all")
    errors: list[tuple[int | None, str, str]] = []
    if match not in ("all", "any"):
        errors.append((None, "", f"Match must be “all” or “any”, not “{match}”."))
    conditions = data.get("conditions") or []
    if not isinstance(conditions, list):
        raise FilterError([(None, "", "Conditions must be a list.")])
    if len(conditions) > MAX_CONDITIONS:
        errors.append((None, "", f"A filter has at most {MAX_CONDITIONS} conditions."))
    clean: list[dict[str, Any]] = []
    for index, condition in enumerate(conditions):
        if not isinstance(condition, dict):
            errors.append((index, "", f"Condition {index + 1} must be an object."))
            continue
        name = str(condition.get("field") or "")
        op = str(condition.get("op") or "")
        where = f"Condition {index + 1} ({name or 'no field'})"
        field = field_for(name)
        try:
            if field is None:
                if not name:
                    raise _Bad("has no field; choose what to compare.")
                if name.startswith(METADATA_PREFIX):
                    raise _Bad(
                        "needs a metadata key of letters, digits, spaces and _ - . : "
                        "(at most 100); type the key as your customers' metadata names it."
                    )
                raise _Bad(f"uses an unknown field “{name}”; choose one from the list.")
            if op not in OPERATORS[field.type]:
                allowed = ", ".join(OPERATORS[field.type])
                raise _Bad(
                    f"cannot use the operator “{op or '(none)'}” on a {field.type} field; "
                    f"use one of: {allowed}."
                )
            value = _normalize_value(field, op, condition.get("value"))
        except _Bad as exc:
            errors.append((index, name, f"{where} {exc}"))
            continue
        clean.append({"field": name, "op": op, "value": value})
    if errors:
        raise FilterError(errors)
    return {"match": match, "conditions": clean}


# --- compilation -----------------------------------------------------------------------------


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _day_start(day: dt.date) -> dt.datetime:
    """Midnight at the start of `day` in the current time zone (the site's day)."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _text_sql(expr: str, params: list[Any], op: str, value: Any) -> tuple[str, list[Any]]:
    if op == "is_set":
        return f"coalesce({expr}, '') <> ''", params
    if op == "is_not_set":
        return f"coalesce({expr}, '') = ''", params
    if op == "is":
        return f"lower({expr}) = lower(%s)", [*params, value]
    if op == "is_not":
        # A customer without the value is "not" it too.
        return f"lower({expr}) IS DISTINCT FROM lower(%s)", [*params, value]
    if op == "contains":
        return f"{expr} ILIKE %s", [*params, f"%{_like_escape(value)}%"]
    if op == "starts_with":
        return f"{expr} ILIKE %s", [*params, f"{_like_escape(value)}%"]
    if op == "in":
        return f"lower({expr}) = ANY(%s)", [*params, [v.lower() for v in value]]
    raise AssertionError(op)


def _number_sql(expr: str, params: list[Any], op: str, value: Any) -> tuple[str, list[Any]]:
    if op == "is_set":
        return f"{expr} > 0", params
    number = Decimal(str(value))
    if op == "ne":
        return f"{expr} IS DISTINCT FROM %s", [*params, number]
    return f"{expr} {NUMERIC_OPS[op]} %s", [*params, number]


def _date_sql(field: Field, op: str, value: Any) -> tuple[str, list[Any]]:
    expr = field.sql
    is_day = field.name == "birthdate"  # a date column; the others are timestamps
    if op == "is_set":
        return f"{expr} IS NOT NULL", []
    if op == "in_last_days":
        if is_day:
            return f"{expr} >= current_date - %s::int", [value]
        return f"{expr} >= now() - make_interval(days => %s)", [value]
    day = dt.date.fromisoformat(value)
    if op == "before":
        return f"{expr} < %s", [day if is_day else _day_start(day)]
    # "after" a day means from the next day on.
    nxt = day + dt.timedelta(days=1)
    return f"{expr} >= %s", [nxt if is_day else _day_start(nxt)]


def _condition_sql(condition: dict[str, Any]) -> tuple[str, list[Any]]:
    name, op, value = condition["field"], condition["op"], condition["value"]
    field = field_for(name)
    assert field is not None  # normalize_filter checked it
    if field.type == "text":
        return _text_sql(field.sql, [], op, value)
    if field.type == "bool":
        return (field.sql if op == "is_true" else f"NOT {field.sql}"), []
    if field.type == "number":
        return _number_sql(field.sql, [], op, value)
    if field.type == "date":
        return _date_sql(field, op, value)
    if field.type == "metadata":
        key = name[len(METADATA_PREFIX) :]
        if op in NUMERIC_OPS:
            expr = (
                f"(CASE WHEN (c.metadata ->> %s) ~ {_NUMERIC_RE} "
                "THEN (c.metadata ->> %s)::numeric END)"
            )
            return _number_sql(expr, [key, key], op, value)
        return _text_sql("(c.metadata ->> %s)", [key], op, value)
    if field.type == "campaign":
        exists = (
            f"EXISTS (SELECT 1 FROM {_PUBLICATIONS} AND p.campaign_id = %s "
            "AND v.redeemed_quantity = 0)"
        )
        return (exists if op == "is" else f"NOT {exists}"), [value]
    if field.type == "event":
        exists = (
            "EXISTS (SELECT 1 FROM customers_event e WHERE e.customer_id = c.id "
            "AND e.type = %s AND e.created_at >= now() - make_interval(days => %s))"
        )
        sql = exists if op == "is_true" else f"NOT {exists}"
        return sql, [value["type"], value["days"]]
    raise AssertionError(field.type)


def compile_parts(data: Any) -> tuple[str, str, list[Any]]:
    """(FROM clause over the customer row `c` with the aggregates it needs, WHERE predicate,
    parameters), after validating the filter."""
    clean = normalize_filter(data)
    parts: list[str] = []
    params: list[Any] = []
    laterals: list[str] = []
    for condition in clean["conditions"]:
        field = field_for(condition["field"])
        if field and field.lateral and field.lateral not in laterals:
            laterals.append(field.lateral)
        sql, condition_params = _condition_sql(condition)
        parts.append(f"({sql})")
        params += condition_params
    source = " ".join(["customers_customer c", *(LATERALS[name] for name in sorted(laterals))])
    if not parts:
        return source, "TRUE", []  # no condition: everyone
    joiner = " AND " if clean["match"] == "all" else " OR "
    return source, joiner.join(parts), params


def compile_filter(data: Any) -> tuple[str, list[Any]]:
    """One query returning the ids of the matching customers, and its parameters."""
    source, where, params = compile_parts(data)
    return f"SELECT c.id FROM {source} WHERE {where}", params


def describe(data: dict[str, Any]) -> list[str]:
    """Human sentences for a (valid) filter's conditions, for lists and detail pages."""
    out = []
    for condition in data.get("conditions") or []:
        field = field_for(condition.get("field", ""))
        if field is None:
            continue
        op = OPERATORS[field.type].get(condition.get("op", ""), condition.get("op", ""))
        value = condition.get("value")
        if isinstance(value, dict):
            value = f"“{value.get('type')}” in the last {value.get('days')} days"
        elif isinstance(value, list):
            value = ", ".join(value)
        elif field.type == "campaign":
            value = f"#{value}"
        out.append(" ".join(str(p) for p in (field.label, op, value if value is not None else "")))
    return [line.strip() for line in out]


# --- running a filter ------------------------------------------------------------------------


def segment_queryset(data: Any) -> QuerySet[Customer]:
    """The matching customers as a queryset: one query, `id IN (compiled SQL)`."""
    sql, params = compile_filter(data)
    return Customer.objects.filter(id__in=RawSQL(sql, params))


def segment_count(data: Any) -> int:
    sql, params = compile_filter(data)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({sql}) m", params)
        return int(cursor.fetchone()[0])


def segment_sample(data: Any, n: int = 10) -> list[Customer]:
    """Up to `n` matching customers, newest first (for the live preview)."""
    return list(segment_queryset(data).order_by("-created_at", "-id")[:n])
