"""Automatic distributions (partner schema): read the customer event log and serve each customer
who met the trigger once.

Each live automatic distribution is a consumer of the event log named "distribution:<id>". A
round, in one transaction holding the distribution's row lock, takes a batch of its pending
events (the trigger's type, newer than the newest event at activation; for a segment,
`segment.entered` events whose payload names that segment), inserts their customers as waiting
recipients with ON CONFLICT DO NOTHING (so a customer is served once per distribution however
often the event is re-delivered or repeated), marks the events consumed in the same statement,
and then serves the waiting recipients with the fan-out's code path (publish, queue one message
per channel).

A round that finds the pool empty pauses the distribution ("pool_empty"); its customers stay
waiting and the events that arrive meanwhile stay pending until it is resumed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Max

from apps.customers.models import Event, EventConsumption
from apps.distributions.models import Activity, Distribution, Recipient
from apps.distributions.pipeline.activity import ACTIVATED
from apps.distributions.pipeline.fanout import (
    ServeTotals,
    locked_live,
    recipients_serve,
    templates_ensure,
)
from apps.distributions.pipeline.queue import SEGMENT_ENTERED

EVENT_BATCH = 1_000
# Events recorded this long ago are "settled": no transaction still open can add an event
# with a smaller id (see settled_after).
SETTLED = dt.timedelta(minutes=10)

_RECIPIENTS = Recipient._meta.db_table
_EVENTS = Event._meta.db_table
_CONSUMED = EventConsumption._meta.db_table


def consumer_name(distribution_id: int) -> str:
    return f"distribution:{distribution_id}"


def trigger_filter(distribution: Distribution) -> tuple[str, dict[str, Any]]:
    """The WHERE condition (on events `e`) of the events that trigger `distribution`."""
    if distribution.audience == Distribution.Audience.SEGMENT:
        return (
            "e.type = %(auto_type)s AND e.payload->>'segment_id' = %(auto_segment)s",
            {"auto_type": SEGMENT_ENTERED, "auto_segment": str(distribution.segment_id)},
        )
    return "e.type = %(auto_type)s", {"auto_type": distribution.trigger_event}


def events_after(distribution: Distribution) -> int:
    """The newest event id at activation: the distribution handles only later events."""
    data = (
        Activity.objects.filter(distribution=distribution, kind=ACTIVATED)
        .order_by("id")
        .values_list("data", flat=True)
        .first()
    )
    if data and "after_event" in data:
        return int(data["after_event"])
    # Activated some other way (no log line): start after the events older than launch.
    last = (
        Event.objects.filter(created_at__lt=distribution.launched_at).aggregate(last=Max("id"))[
            "last"
        ]
        if distribution.launched_at
        else None
    )
    return last or 0


def settled_after(distribution: Distribution) -> int:
    """Where this round's scan of the event log starts: after the activation point, and after
    the newest event this consumer handled that was recorded more than SETTLED ago (an event
    with a smaller id was recorded by a transaction that started earlier still, so it has long
    been committed and handled). Keeps a round proportional to the recent events instead of
    every event since activation."""
    after = events_after(distribution)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT ec.event_id FROM {_CONSUMED} ec JOIN {_EVENTS} e ON e.id = ec.event_id "  # noqa: S608 - model table names
            "WHERE ec.consumer = %s AND ec.event_id > %s AND e.created_at < now() - %s "
            "ORDER BY ec.event_id DESC LIMIT 1",
            # psycopg sends a timedelta as an interval; the stubs' parameter types omit it.
            [consumer_name(distribution.pk), after, SETTLED],  # type: ignore[list-item]
        )
        row = cursor.fetchone()
    return max(after, row[0]) if row else after


def _take_events(distribution: Distribution, limit: int) -> tuple[int, int]:
    """Turn up to `limit` pending events into recipients and mark them consumed; returns
    (events taken, recipients added)."""
    where, params = trigger_filter(distribution)
    sql = f"""
    WITH ev AS (
        SELECT e.id, e.customer_id FROM {_EVENTS} e
        WHERE {where}
          AND e.customer_id IS NOT NULL
          AND e.id > %(auto_after)s
          AND NOT EXISTS (SELECT 1 FROM {_CONSUMED} ec
                          WHERE ec.consumer = %(auto_consumer)s AND ec.event_id = e.id)
        ORDER BY e.id
        LIMIT %(auto_limit)s
    ), rec AS (
        INSERT INTO {_RECIPIENTS} (distribution_id, customer_id, status, event_id, created_at,
                                   reminders_sent)
        SELECT DISTINCT ON (ev.customer_id) %(auto_distribution)s, ev.customer_id, 'waiting',
               ev.id, now(), 0
        FROM ev ORDER BY ev.customer_id, ev.id
        ON CONFLICT (distribution_id, customer_id) DO NOTHING
        RETURNING 1
    ), con AS (
        INSERT INTO {_CONSUMED} (consumer, event_id, handled_at)
        SELECT %(auto_consumer)s, ev.id, now() FROM ev
        ON CONFLICT (consumer, event_id) DO NOTHING
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM con), (SELECT count(*) FROM rec)
    """  # noqa: S608 - model table names; every value is a parameter
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                **params,
                "auto_after": settled_after(distribution),
                "auto_consumer": consumer_name(distribution.pk),
                "auto_limit": limit,
                "auto_distribution": distribution.pk,
            },
        )
        taken, added = cursor.fetchone()
    return taken, added


@dataclass
class ConsumeResult(ServeTotals):
    events: int = 0
    recipients: int = 0


def distribution_consume(distribution_id: int, *, limit: int = EVENT_BATCH) -> ConsumeResult:
    """Handle the pending events of one live automatic distribution, round after round,
    until none is left (or it is paused). Safe to run twice or concurrently: rounds take the
    row lock, and consumption and recipients are unique."""
    result = ConsumeResult()
    while True:
        with transaction.atomic():
            distribution = locked_live(distribution_id)
            if distribution is None or distribution.kind != Distribution.Kind.AUTOMATIC:
                result.stopped = True
                return result
            templates_ensure(distribution)
            taken, added = _take_events(distribution, limit)
            serve_limit = max(limit, added)
            outcome = recipients_serve(distribution, limit=serve_limit)
            result.events += taken
            result.recipients += added
            if result.add(distribution, outcome):
                return result
        if taken < limit and outcome.picked < serve_limit:  # nothing more to take or serve
            return result


def consume_all() -> dict[str, int]:
    """One round for every live automatic distribution of the current schema."""
    totals = {"distributions": 0, "events": 0, "published": 0, "queued": 0}
    ids = Distribution.objects.filter(
        kind=Distribution.Kind.AUTOMATIC, status=Distribution.Status.LIVE
    ).values_list("pk", flat=True)
    for distribution_id in list(ids):
        result = distribution_consume(distribution_id)
        totals["distributions"] += 1
        totals["events"] += result.events
        totals["published"] += result.published
        totals["queued"] += result.queued
    return totals
