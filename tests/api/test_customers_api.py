"""POST /v1/customers (upsert) and GET /v1/customers/{id}: Voucherify's shape, the same id on
a repeated upsert, nothing erased by a partial update, and clear errors for bad input."""

from __future__ import annotations

import json

import pytest
from django_tenants.utils import schema_context

from apps.customers.models import Customer
from tests.api.conftest import issue


def post(client, key, body):
    return client.post(
        "/v1/customers", json.dumps(body), content_type="application/json", **key.headers
    )


@pytest.fixture
def key(partner_a):
    return issue(partner_a)


def test_upsert_twice_returns_the_same_customer(client, key):
    # given
    body = {
        "source_id": "crm-1",
        "name": "Ann Lee",
        "email": "Ann@Example.test",
        "phone": "+1 933 222 3333",
        "address": {"city": "New York", "line_1": "123 Main St."},
        "metadata": {"lang": "en"},
        "birthdate": "1990-04-23",
    }
    # when
    first = post(client, key, body)
    second = post(client, key, {"source_id": "crm-1", "metadata": {"test": True}})
    # then
    assert first.status_code == 200, first.content
    assert second.status_code == 200, second.content
    one, two = first.json(), second.json()
    assert one["id"] == two["id"] and one["id"].startswith("cust_")
    assert one["object"] == "customer" and one["email"] == "ann@example.test"
    assert one["phone"] == "+19332223333" and one["address"]["city"] == "New York"
    assert two["name"] == "Ann Lee"  # not given the second time: kept
    assert two["metadata"] == {"lang": "en", "test": True}
    with schema_context("p_alpha"):
        assert Customer.objects.count() == 1


def test_upsert_matches_on_email_when_no_source_id(client, key):
    first = post(client, key, {"email": "bo@x.test", "name": "Bo"})
    second = post(client, key, {"email": "BO@x.test", "source_id": "crm-9"})
    assert first.json()["id"] == second.json()["id"]
    assert second.json()["source_id"] == "crm-9"


def test_get_by_id_and_by_source_id(client, key, partner_b):
    # given
    created = post(client, key, {"source_id": "crm-1", "name": "Ann"}).json()
    # when / then
    for ref in (created["id"], "crm-1"):
        response = client.get(f"/v1/customers/{ref}", **key.headers)
        assert response.status_code == 200
        assert response.json()["id"] == created["id"]
    # another partner's key does not find it
    beta = issue(partner_b)
    response = client.get(f"/v1/customers/{created['id']}", **beta.headers)
    assert response.status_code == 404
    assert response.json()["key"] == "not_found"


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"name": "Nobody"}, 400, "Send “source_id”"),
        ({"source_id": "x", "phone": "12345"}, 400, "e.g. +14155550123"),
        ({"source_id": "x", "email": "nope"}, 400, "is not an email address"),
        ({"source_id": "x", "birthdate": "2999-01-01"}, 400, "in the future"),
        ({"source_id": "x", "metadata": [1]}, 400, "must be a JSON object"),
        ({"source_id": "x", "tier": "gold"}, 400, "Unknown field “tier”"),
        ({"source_id": "x", "description": "hi"}, 400, "put it in “metadata”"),
        ({"source_id": 7}, 400, "must be a string"),
    ],
)
def test_bad_input_gets_a_voucherify_error(client, key, body, status, needle):
    response = post(client, key, body)
    assert response.status_code == status
    error = response.json()
    assert set(error) >= {"code", "key", "message", "details", "request_id"}
    assert needle in error["details"]
    with schema_context("p_alpha"):
        assert not Customer.objects.exists()


def test_email_of_another_customer_is_a_conflict(client, key):
    post(client, key, {"source_id": "a", "email": "a@x.test"})
    response = post(client, key, {"source_id": "b", "email": "A@x.test"})
    assert response.status_code == 409
    assert response.json()["key"] == "duplicate_email"
    with schema_context("p_alpha"):
        assert Customer.objects.get(email="a@x.test").source_id == "a"


def test_merchant_key_may_not_write_customers(client, shop):
    response = post(client, shop.key, {"source_id": "x"})
    assert response.status_code == 403
