"""Orders: upsert by id or source id, events per change, customer references, bad input."""

from __future__ import annotations

import pytest

from apps.core.errors import DomainError
from apps.customers.models import Customer, Event, Order
from apps.customers.orders import CustomerRef, customer_resolve, order_upsert


def _types(customer=None) -> list[str]:
    qs = Event.objects.order_by("id")
    if customer is not None:
        qs = qs.filter(customer=customer)
    return list(qs.values_list("type", flat=True))


def test_new_order_records_created_event_on_the_customer(in_partner):
    # given
    customer = Customer.objects.create(source_id="c-1")
    # when
    result = order_upsert(source_id="o-1", amount=2599, customer=customer)
    # then
    order = Order.objects.get(source_id="o-1")
    assert result.created
    assert order.public_id.startswith("ord_")
    assert (order.status, order.amount, order.customer_id) == ("CREATED", 2599, customer.pk)
    assert _types(customer) == ["order.created"]
    event = Event.objects.get(customer=customer)
    assert event.payload["order_id"] == order.public_id


def test_order_created_paid_records_created_and_paid(in_partner):
    # given
    customer = Customer.objects.create(source_id="c-1")
    # when
    order_upsert(source_id="o-1", status="PAID", amount=100, customer=customer)
    # then
    assert _types(customer) == ["order.created", "order.paid"]


def test_upsert_by_source_id_updates_and_records_status_events(in_partner):
    # given
    customer = Customer.objects.create(source_id="c-1")
    order_upsert(source_id="o-1", amount=100, customer=customer)
    # when
    paid = order_upsert(source_id="o-1", status="PAID")
    canceled = order_upsert(source_id="o-1", status="CANCELED")
    # then
    assert Order.objects.count() == 1
    assert not paid.created
    assert paid.events == ["order.updated", "order.paid"]
    assert canceled.events == ["order.updated", "order.canceled"]
    assert _types(customer) == [
        "order.created",
        "order.updated",
        "order.paid",
        "order.updated",
        "order.canceled",
    ]
    last = Event.objects.filter(type="order.canceled").get()
    assert last.payload["previous_status"] == "PAID"


def test_upsert_by_public_id_and_unchanged_retry_records_nothing(in_partner):
    # given
    created = order_upsert(amount=100, metadata={"shop": "north"})
    public_id = created.order.public_id
    # when
    updated = order_upsert(public_id=public_id, amount=200, metadata={"till": 3})
    again = order_upsert(public_id=public_id, amount=200)
    # then
    order = Order.objects.get()
    assert (order.amount, order.metadata) == (200, {"shop": "north", "till": 3})
    assert updated.events == ["order.updated"]
    assert again.events == []
    assert _types() == ["order.created", "order.updated"]


def test_fulfilled_is_an_update_without_a_status_event(in_partner):
    # given
    order_upsert(source_id="o-1", status="PAID")
    # when
    result = order_upsert(source_id="o-1", status="FULFILLED")
    # then
    assert result.events == ["order.updated"]


def test_amount_defaults_to_the_items_total(in_partner):
    # when
    result = order_upsert(
        items=[
            {"product_id": "p1", "quantity": 2, "price": 1000},
            {"sku_id": "s1", "amount": 500, "ignored": "x"},
        ]
    )
    # then
    assert result.order.amount == 2500
    assert result.order.items == [
        {"product_id": "p1", "quantity": 2, "price": 1000, "amount": 2000},
        {"sku_id": "s1", "amount": 500},
    ]


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"status": "SHIPPED"}, "invalid_status"),
        ({"amount": -1}, "invalid_amount"),
        ({"amount": "12.50"}, "invalid_amount"),
        ({"items": {"product_id": "p"}}, "invalid_items"),
        ({"items": ["p1"]}, "invalid_items"),
        ({"items": [{"quantity": 1}]}, "invalid_items"),
        ({"items": [{"product_id": "p", "quantity": 0}]}, "invalid_items"),
        ({"items": [{"product_id": "p", "price": -5}]}, "invalid_items"),
        ({"public_id": "ord_0000"}, "not_found"),
        ({"public_id": "nonsense"}, "not_found"),
    ],
)
def test_bad_order_input_is_refused_and_stores_nothing(kwargs, key, in_partner):
    # when
    with pytest.raises(DomainError) as caught:
        order_upsert(source_id="o-bad", **kwargs)
    # then
    assert caught.value.key == key
    assert caught.value.message.endswith(".")
    assert not Order.objects.exists()
    assert not Event.objects.exists()


def test_customer_resolve_by_id_source_id_and_email(in_partner):
    # given
    known = Customer.objects.create(source_id="c-1", email="ann@example.com")
    # when
    by_id = customer_resolve(ref=CustomerRef(id=known.pk))
    by_source = customer_resolve(ref=CustomerRef(source_id="c-1", name="Ann"))
    by_email = customer_resolve(ref=CustomerRef(email="ANN@example.com"))
    created = customer_resolve(
        ref=CustomerRef(source_id="c-2", email="bob@example.com", metadata={"lang": "en"})
    )
    # then
    assert by_id.pk == by_source.pk == by_email.pk == known.pk
    assert Customer.objects.get(pk=known.pk).name == "Ann"
    assert (created.source_id, created.email, created.metadata) == (
        "c-2",
        "bob@example.com",
        {"lang": "en"},
    )


@pytest.mark.parametrize(
    ("ref", "key"),
    [
        (CustomerRef(id=999999), "not_found"),
        (CustomerRef(), "invalid_customer"),
        (CustomerRef(email="not-an-email"), "invalid_customer"),
        (CustomerRef(source_id="c-9", email="ann@example.com"), "customer_conflict"),
    ],
)
def test_customer_resolve_refuses_bad_references(ref, key, in_partner):
    # given
    Customer.objects.create(source_id="c-1", email="ann@example.com")
    # when
    with pytest.raises(DomainError) as caught:
        customer_resolve(ref=ref)
    # then
    assert caught.value.key == key
    assert Customer.objects.count() == 1
