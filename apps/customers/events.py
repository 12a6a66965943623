"""The customer event log (partner schema): record events, and let later features (automatic
distributions, segment re-evaluation) consume them idempotently.

Recording events schedules a segment re-evaluation and announces the event types through
apps.core.reactions (topic `customer_events`), which is how the distributions app, above this
one, hears of them.

A consumer is a stable name ("distribution:12", "segments"). `event_consume` inserts the
(consumer, event) pair with ON CONFLICT DO NOTHING, so running a consumer twice over the same
events handles each once; `events_pending` is the read side: the events a consumer has not
handled yet, oldest first, in one query.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet

from apps.core import reactions
from apps.customers.models import Customer, Event, EventConsumption
from apps.customers.segments.triggers import segments_schedule_evaluation

# Rows per INSERT in events_record_bulk: big enough to be set-based, small enough to keep a
# statement's parameter count well below PostgreSQL's 65,535 limit (3 per row).
_BULK_CHUNK = 5_000
_EVENTS = Event._meta.db_table
_CONSUMED = EventConsumption._meta.db_table


def event_record(*, customer: Customer | None, type: str, payload: dict | None = None) -> Event:
    """Append one event to the log. Runs in the caller's transaction, so an event exists
    exactly when the change it describes was committed."""
    event = Event.objects.create(customer=customer, type=type, payload=payload or {})
    audience_changed([type])
    return event


def audience_changed(types: Iterable[str] = ("",)) -> None:
    """Something segments may depend on has changed: schedule a (debounced) re-evaluation of
    the partner's active segments, and announce the recorded event types to the apps that
    react to them (apps.core.reactions: automatic distributions). Segment events themselves
    never trigger a re-evaluation, or every evaluation would schedule the next."""
    types = set(types)
    if any(not t.startswith("segment.") for t in types):
        segments_schedule_evaluation()
    reactions.announce(reactions.CUSTOMER_EVENTS, types)


def events_record_bulk(rows: Iterable[tuple[int | None, str, dict[str, Any]]]) -> int:
    """Append many events: `rows` are (customer_id, type, payload). One INSERT per
    5,000 rows (usually just one), created_at from the database clock. Returns the count."""
    total = 0
    chunk: list[tuple[int | None, str, str]] = []

    def flush(batch: Sequence[tuple[int | None, str, str]]) -> int:
        if not batch:
            return 0
        values = ", ".join(["(%s, %s, %s::jsonb, now())"] * len(batch))
        params: list[Any] = [value for row in batch for value in row]
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {_EVENTS} (customer_id, type, payload, created_at) VALUES {values}",  # noqa: S608 - our table name and placeholders only
                params,
            )
        return len(batch)

    types: set[str] = set()
    for customer_id, event_type, payload in rows:
        types.add(event_type)
        chunk.append((customer_id, event_type, json.dumps(payload or {})))
        if len(chunk) >= _BULK_CHUNK:
            total += flush(chunk)
            chunk = []
    total += flush(chunk)
    audience_changed(types)
    return total


def event_consume(*, consumer: str, event: Event | int) -> bool:
    """Mark `event` as handled by `consumer`. True the first time, False when it was already
    handled (then the caller must not act again). Call it in the same transaction as the
    consumer's own writes, so handling and marking commit (or roll back) together."""
    event_id = event if isinstance(event, int) else event.pk
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_CONSUMED} (consumer, event_id, handled_at) "  # noqa: S608 - our table
            "VALUES (%s, %s, now()) "
            "ON CONFLICT (consumer, event_id) DO NOTHING",
            [consumer, event_id],
        )
        return cursor.rowcount == 1


def events_pending(
    *, consumer: str, types: Iterable[str] | None = None, limit: int = 1000
) -> QuerySet[Event]:
    """Events of `types` (all types when None) not yet consumed by `consumer`, oldest
    first, at most `limit`. One query (NOT EXISTS on the consumption table)."""
    consumed = EventConsumption.objects.filter(consumer=consumer, event=OuterRef("pk"))
    qs = Event.objects.filter(~Exists(consumed))
    if types is not None:
        qs = qs.filter(type__in=list(types))
    return qs.order_by("created_at", "id")[:limit]
