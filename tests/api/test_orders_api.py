"""POST /v1/orders and POST /v1/events: Voucherify shapes, upserts, events, bad input."""

from __future__ import annotations

import json

import pytest
from django_tenants.utils import schema_context

from apps.customers.models import Customer, Event, Order


def post(client, key, path: str, body) -> tuple[int, dict]:
    raw = body if isinstance(body, str) else json.dumps(body)
    response = client.post(path, raw, content_type="application/json", **key.headers)
    return response.status_code, response.json()


def test_create_then_pay_an_order_for_an_embedded_customer(client, shop):
    # given
    body = {
        "source_id": "web-1001",
        "amount": 20000,
        "status": "CREATED",
        "customer": {"source_id": "bob-1", "email": "bob@example.com", "name": "Bob"},
        "items": [
            {"source_id": "prod_1", "related_object": "product", "quantity": 2, "price": 10000}
        ],
        "metadata": {"channel": "web"},
    }
    # when
    status, created = post(client, shop.partner_key, "/v1/orders", body)
    status_paid, paid = post(
        client, shop.partner_key, "/v1/orders", {"id": created["id"], "status": "PAID"}
    )
    # then
    assert status == 200, created
    assert created["object"] == "order"
    assert created["id"].startswith("ord_")
    assert (created["source_id"], created["amount"], created["status"]) == (
        "web-1001",
        20000,
        "CREATED",
    )
    assert created["items"][0]["amount"] == 20000
    assert created["customer_id"].startswith("cust_")
    assert status_paid == 200
    assert paid["status"] == "PAID"
    with schema_context("p_alpha"):
        customer = Customer.objects.get(source_id="bob-1")
        assert (customer.email, customer.name) == ("bob@example.com", "Bob")
        assert created["customer_id"] == f"cust_{customer.pk}"
        types = list(
            Event.objects.filter(customer=customer).order_by("id").values_list("type", flat=True)
        )
        assert types == ["customer.created", "order.created", "order.updated", "order.paid"]


def test_upsert_by_source_id_for_a_customer_named_by_id(client, shop):
    # given
    with schema_context("p_alpha"):
        customer = Customer.objects.create(source_id="ann-1")
    post(client, shop.partner_key, "/v1/orders", {"source_id": "o-1", "amount": 100})
    # when
    status, body = post(
        client,
        shop.partner_key,
        "/v1/orders",
        {"source_id": "o-1", "status": "CANCELED", "customer": {"id": f"cust_{customer.pk}"}},
    )
    # then
    assert status == 200, body
    assert body["customer_id"] == f"cust_{customer.pk}"
    with schema_context("p_alpha"):
        assert Order.objects.count() == 1
        assert Event.objects.filter(customer=customer, type="order.canceled").exists()


@pytest.mark.parametrize(
    ("body", "status", "key", "words"),
    [
        ({"source_id": "o", "status": "SHIPPED"}, 400, "invalid_status", "CREATED"),
        ({"source_id": "o", "amount": -5}, 400, "invalid_amount", "negative"),
        ({"source_id": "o", "amount": 12.5}, 400, "invalid_amount", "minor units"),
        ({"source_id": "o", "items": "p1"}, 400, "invalid_items", "list"),
        ({"source_id": "o", "items": [{"quantity": 1}]}, 400, "invalid_items", "product_id"),
        (
            {"source_id": "o", "items": [{"sku_id": "s", "quantity": -1}]},
            400,
            "invalid_items",
            "quantity",
        ),
        ({"source_id": "o", "customer": {"id": "cust_999999"}}, 404, "not_found", "cust_999999"),
        ({"source_id": "o", "customer": {"id": "nobody"}}, 404, "not_found", "cust_12"),
        ({"source_id": "o", "customer": {"name": "No id"}}, 400, "invalid_payload", "source_id"),
        ({"source_id": "o", "customer": {"email": "nope"}}, 400, "invalid_customer", "email"),
        ({"id": "ord_0123456789abcdef0123"}, 404, "not_found", "ord_0123456789abcdef0123"),
        ({"source_id": "o", "referrer": {"source_id": "x"}}, 400, "invalid_payload", "referrer"),
        ({"source_id": 7}, 400, "invalid_payload", "string"),
        ("[1, 2]", 400, "invalid_payload", "object"),
    ],
)
def test_bad_orders_are_refused_with_a_sentence_and_store_nothing(
    client, shop, body, status, key, words
):
    # when
    got_status, answer = post(client, shop.partner_key, "/v1/orders", body)
    # then
    assert (got_status, answer["key"]) == (status, key), answer
    assert words in answer["details"]
    with schema_context("p_alpha"):
        assert not Order.objects.exists()
        assert not Customer.objects.exists()
        assert not Event.objects.exists()


def test_merchant_keys_cannot_write_orders(client, shop):
    # when
    status, body = post(client, shop.key, "/v1/orders", {"source_id": "o-1"})
    # then
    assert (status, body["key"]) == (403, "forbidden")


def test_order_retry_with_idempotency_key_is_replayed(client, shop):
    # given
    headers = {**shop.partner_key.headers, "HTTP_IDEMPOTENCY_KEY": "order-1"}
    body = json.dumps({"source_id": "o-1", "amount": 100})
    # when
    first = client.post("/v1/orders", body, content_type="application/json", **headers)
    second = client.post("/v1/orders", body, content_type="application/json", **headers)
    # then
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    with schema_context("p_alpha"):
        assert Event.objects.count() == 1


def test_custom_event_is_recorded_on_the_customer(client, shop):
    # when
    status, body = post(
        client,
        shop.partner_key,
        "/v1/events",
        {
            "event": "cart_abandoned",
            "customer": {"source_id": "ann-1", "email": "ann@example.com"},
            "metadata": {"cart_value": 4500},
        },
    )
    # then
    assert status == 200, body
    assert (body["object"], body["type"]) == ("event", "cart_abandoned")
    assert body["customer"]["source_id"] == "ann-1"
    with schema_context("p_alpha"):
        event = Event.objects.get(type="cart_abandoned")
        assert event.customer.email == "ann@example.com"
        assert event.payload == {"metadata": {"cart_value": 4500}}


@pytest.mark.parametrize(
    ("body", "key", "words"),
    [
        ({"customer": {"source_id": "a"}}, "invalid_payload", "“event” is missing"),
        ({"event": "has space", "customer": {"source_id": "a"}}, "invalid_event", "letters"),
        ({"event": "x" * 101, "customer": {"source_id": "a"}}, "invalid_event", "100"),
        ({"event": "order.paid", "customer": {"source_id": "a"}}, "invalid_event", "reserved"),
        ({"event": "signed_up"}, "invalid_payload", "“customer” is missing"),
        ({"event": "signed_up", "customer": ["a"]}, "invalid_payload", "object"),
        (
            {"event": "signed_up", "customer": {"source_id": "a"}, "metadata": 3},
            "invalid_payload",
            "metadata",
        ),
        (
            {"event": "signed_up", "customer": {"source_id": "a"}, "loyalty": {}},
            "invalid_payload",
            "loyalty",
        ),
    ],
)
def test_bad_events_are_refused(client, shop, body, key, words):
    # when
    status, answer = post(client, shop.partner_key, "/v1/events", body)
    # then
    assert (status, answer["key"]) == (400, key), answer
    assert words in answer["details"]
    with schema_context("p_alpha"):
        assert not Event.objects.exists()
        assert not Customer.objects.exists()
