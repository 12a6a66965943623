"""POST /v1/publications: a code of a campaign for a customer, in Voucherify's shape."""

from __future__ import annotations

import json

import pytest
from django_tenants.utils import schema_context

from apps.customers.models import Customer, Event, Publication
from tests.api.conftest import issue


def post(client, key, body, query: str = "") -> tuple[int, dict]:
    raw = body if isinstance(body, str) else json.dumps(body)
    response = client.post(
        "/v1/publications" + query, raw, content_type="application/json", **key.headers
    )
    return response.status_code, response.json()


def body_for(shop, **extra) -> dict:
    return {
        "campaign": {"name": shop.campaign.name},
        "customer": {"source_id": "ann-1", "email": "ann@example.com", "name": "Ann"},
        **extra,
    }


def test_publish_a_code_to_a_new_customer(client, shop):
    # given
    shop.voucher("PUB-0001")
    # when
    status, body = post(
        client, shop.partner_key, body_for(shop, channel="crm", metadata={"why": "welcome"})
    )
    # then
    assert status == 200, body
    assert body["object"] == "publication"
    assert body["id"].startswith("pub_")
    assert body["result"] == "SUCCESS"
    assert (body["channel"], body["metadata"]) == ("crm", {"why": "welcome"})
    assert body["voucher"]["code"] == "PUB-0001"
    assert body["voucher"]["campaign"] == shop.campaign.name
    assert body["voucher"]["holder_id"] == body["customer_id"]
    assert body["customer"]["source_id"] == "ann-1"
    assert body["tracking_id"] == "ann-1"
    with schema_context("p_alpha"):
        publication = Publication.objects.select_related("customer").get()
        assert publication.customer.email == "ann@example.com"
        assert Event.objects.filter(type="voucher.published").count() == 1


def test_campaign_as_a_plain_name_and_channel_defaults_to_api(client, shop):
    # given
    shop.voucher("PUB-0001")
    # when
    status, body = post(client, shop.partner_key, body_for(shop, campaign=shop.campaign.name))
    # then
    assert status == 200, body
    assert body["channel"] == "API"


def test_source_id_retry_returns_the_same_code(client, shop):
    # given
    shop.voucher("PUB-0001")
    shop.voucher("PUB-0002")
    # when
    _, first = post(client, shop.partner_key, body_for(shop, source_id="welcome-ann"))
    _, again = post(client, shop.partner_key, body_for(shop, source_id="welcome-ann"))
    # then
    assert again["id"] == first["id"]
    assert again["voucher"]["code"] == first["voucher"]["code"]
    with schema_context("p_alpha"):
        assert Publication.objects.count() == 1


@pytest.mark.parametrize("where", ["body", "query"])
def test_join_once_gives_the_customer_the_same_code(client, shop, where):
    # given
    shop.voucher("PUB-0001")
    shop.voucher("PUB-0002")
    extra, query = ({"join_once": True}, "") if where == "body" else ({}, "?join_once=true")
    _, first = post(client, shop.partner_key, body_for(shop))
    # when
    status, again = post(client, shop.partner_key, body_for(shop, **extra), query)
    # then
    assert status == 200, again
    assert again["voucher"]["code"] == first["voucher"]["code"]


def test_empty_pool_is_a_clear_400(client, shop):
    # given
    shop.voucher("PUB-0001")
    post(client, shop.partner_key, body_for(shop))
    # when
    status, body = post(client, shop.partner_key, body_for(shop, customer={"source_id": "bob-1"}))
    # then
    assert (status, body["key"]) == (400, "no_voucher_suitable_for_publication")
    assert shop.campaign.name in body["details"]
    with schema_context("p_alpha"):
        # the refused publication did not leave its new customer behind
        assert not Customer.objects.filter(source_id="bob-1").exists()


@pytest.mark.parametrize(
    ("body", "query", "status", "key", "words"),
    [
        (
            {"campaign": "No such campaign", "customer": {"source_id": "a"}},
            "",
            404,
            "not_found",
            "No campaign",
        ),
        ({"customer": {"source_id": "a"}}, "", 400, "invalid_payload", "“campaign” is missing"),
        ({"campaign": 12, "customer": {"source_id": "a"}}, "", 400, "invalid_payload", "name"),
        ({"campaign": "{name}"}, "", 400, "invalid_payload", "“customer” is missing"),
        (
            {"campaign": "{name}", "customer": {"id": "cust_999999"}},
            "",
            404,
            "not_found",
            "cust_999999",
        ),
        (
            {"campaign": {"name": "{name}", "count": 3}, "customer": {"source_id": "a"}},
            "",
            400,
            "invalid_payload",
            "one code per request",
        ),
        (
            {"campaign": "{name}", "customer": {"source_id": "a"}, "voucher": "X"},
            "",
            400,
            "invalid_payload",
            "specific code",
        ),
        (
            {"campaign": "{name}", "customer": {"source_id": "a"}, "join_once": "maybe"},
            "",
            400,
            "invalid_payload",
            "join_once",
        ),
        (
            {"campaign": "{name}", "customer": {"source_id": "a"}},
            "?join_once=perhaps",
            400,
            "invalid_payload",
            "join_once",
        ),
        (
            {"campaign": "{name}", "customer": {"source_id": "a"}, "extra": 1},
            "",
            400,
            "invalid_payload",
            "extra",
        ),
    ],
)
def test_bad_publications_are_refused(client, shop, body, query, status, key, words):
    # given
    shop.voucher("PUB-0001")
    body = json.loads(json.dumps(body).replace("{name}", shop.campaign.name))
    # when
    got_status, answer = post(client, shop.partner_key, body, query)
    # then
    assert (got_status, answer["key"]) == (status, key), answer
    assert words in answer["details"]
    with schema_context("p_alpha"):
        assert not Publication.objects.exists()
        assert not Customer.objects.exists()


def test_merchant_keys_cannot_publish(client, shop):
    # given
    shop.voucher("PUB-0001")
    # when
    status, body = post(client, shop.key, body_for(shop))
    # then
    assert (status, body["key"]) == (403, "forbidden")


def test_another_partners_campaign_is_not_found(client, shop, partner_b):
    # given a campaign with a free code in partner alpha, and partner beta's key
    shop.voucher("PUB-0001")
    beta_key = issue(partner_b)
    # when beta asks to publish from it
    status, body = post(client, beta_key, body_for(shop))
    # then
    assert (status, body["key"]) == (404, "not_found")
    with schema_context("p_alpha"):
        assert not Publication.objects.exists()
