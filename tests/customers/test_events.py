"""The event log: recording one or many events, idempotent consumption, pending events."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.customers.events import event_consume, event_record, events_pending, events_record_bulk
from apps.customers.models import Customer, Event, EventConsumption


def test_event_record_stores_type_and_payload(in_partner):
    # given
    customer = Customer.objects.create(source_id="c-1")
    # when
    event = event_record(customer=customer, type="order.created", payload={"order": "o1"})
    # then
    stored = Event.objects.get(pk=event.pk)
    assert (stored.customer_id, stored.type, stored.payload) == (
        customer.pk,
        "order.created",
        {"order": "o1"},
    )


def test_events_record_bulk_inserts_many_rows_in_one_query(in_partner):
    # given
    customers = [Customer.objects.create(source_id=f"c-{i}") for i in range(3)]
    rows = [(c.pk, "segment.entered", {"segment": 7}) for c in customers]
    # when
    with CaptureQueriesContext(connection) as queries:
        count = events_record_bulk(rows)
    # then
    assert count == 3
    assert len(queries) == 1
    assert Event.objects.filter(type="segment.entered", payload__segment=7).count() == 3


def test_events_record_bulk_with_nothing_does_nothing(in_partner):
    # when
    with CaptureQueriesContext(connection) as queries:
        count = events_record_bulk([])
    # then
    assert count == 0
    assert len(queries) == 0


def test_event_consume_handles_an_event_once_per_consumer(in_partner):
    # given
    event = event_record(customer=None, type="order.paid", payload={})
    # when
    first = event_consume(consumer="distribution:1", event=event)
    second = event_consume(consumer="distribution:1", event=event)
    other = event_consume(consumer="distribution:2", event=event.pk)
    # then
    assert (first, second, other) == (True, False, True)
    assert EventConsumption.objects.filter(event=event).count() == 2


def test_events_pending_lists_unconsumed_events_of_the_types_oldest_first(in_partner):
    # given
    customer = Customer.objects.create(source_id="c-1")
    first = event_record(customer=customer, type="order.paid", payload={})
    handled = event_record(customer=customer, type="order.paid", payload={})
    event_record(customer=customer, type="order.created", payload={})
    last = event_record(customer=customer, type="order.paid", payload={})
    event_consume(consumer="auto", event=handled)
    # when
    with CaptureQueriesContext(connection) as queries:
        pending = list(events_pending(consumer="auto", types=["order.paid"], limit=10))
    # then
    assert [e.pk for e in pending] == [first.pk, last.pk]
    assert len(queries) == 1


def test_events_pending_respects_the_limit(in_partner):
    # given
    events = [event_record(customer=None, type="x.y", payload={}) for _ in range(3)]
    # when
    pending = list(events_pending(consumer="auto", types=["x.y"], limit=2))
    # then
    assert [e.pk for e in pending] == [events[0].pk, events[1].pk]
