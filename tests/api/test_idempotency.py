"""`Idempotency-Key`: a retried write returns the first answer and acts once; the same key
with a different body is a 409."""

from __future__ import annotations

import json

from django_tenants.utils import schema_context

from apps.api.models import IdempotentRequest
from apps.redemptions.models import Redemption


def post(client, path, body, key, idem=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": idem} if idem is not None else {}
    return client.post(
        path, json.dumps(body), content_type="application/json", **key.headers, **headers
    )


def body(code: str) -> dict:
    return {"redeemables": [{"object": "voucher", "id": code}], "order": {"amount": 3000}}


def test_retry_returns_the_first_answer_and_redeems_once(client, shop):
    # given an unlimited code
    shop.voucher("IDEM-0001", limit=None)
    # when the same redemption is sent twice with one key
    first = post(client, "/v1/redemptions", body("IDEM-0001"), shop.key, "order-77")
    again = post(client, "/v1/redemptions", body("IDEM-0001"), shop.key, "order-77")
    # then the retry is the stored first answer
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    with schema_context("p_alpha"):
        assert Redemption.objects.filter(voucher__code="IDEM-0001").count() == 1
        stored = IdempotentRequest.objects.get(key="order-77")
        assert (stored.api_key_id, stored.status_code) == (shop.key.pk, 200)


def test_same_key_with_another_body_is_409(client, shop):
    # given a redemption made with a key
    shop.voucher("IDEM-0002", limit=None)
    shop.voucher("IDEM-0003", limit=None)
    post(client, "/v1/redemptions", body("IDEM-0002"), shop.key, "k-1")
    # when the key is reused for another code
    response = post(client, "/v1/redemptions", body("IDEM-0003"), shop.key, "k-1")
    # then
    assert response.status_code == 409
    assert response.json()["key"] == "idempotency_key_reused"
    assert "new key" in response.json()["details"]
    with schema_context("p_alpha"):
        assert not Redemption.objects.filter(voucher__code="IDEM-0003").exists()


def test_a_refusal_is_stored_too(client, shop):
    # given a used single-use code
    shop.voucher("IDEM-0004")
    post(client, "/v1/redemptions", body("IDEM-0004"), shop.key)
    # when a refused redemption is retried with its key
    first = post(client, "/v1/redemptions", body("IDEM-0004"), shop.key, "k-2")
    again = post(client, "/v1/redemptions", body("IDEM-0004"), shop.key, "k-2")
    # then the same refusal comes back
    assert first.status_code == again.status_code == 400
    assert again.json() == first.json()
    assert first.json()["key"] == "quantity_exceeded"


def test_keys_are_per_api_key(client, shop):
    # given two keys of the same partner using the same Idempotency-Key value
    shop.voucher("IDEM-0005", limit=None)
    a = post(client, "/v1/redemptions", body("IDEM-0005"), shop.key, "same")
    b = post(client, "/v1/redemptions", body("IDEM-0005"), shop.partner_key, "same")
    # then both acted
    assert a.status_code == b.status_code == 200
    assert a.json()["redemptions"][0]["id"] != b.json()["redemptions"][0]["id"]


def test_rollback_retry_returns_the_first_rollback(client, shop):
    # given a redemption
    shop.voucher("IDEM-0006")
    rid = post(client, "/v1/redemptions", body("IDEM-0006"), shop.key).json()["redemptions"][0][
        "id"
    ]
    # when its rollback is retried with the same key
    first = post(client, f"/v1/redemptions/{rid}/rollback", {}, shop.key, "undo-1")
    again = post(client, f"/v1/redemptions/{rid}/rollback", {}, shop.key, "undo-1")
    plain = post(client, f"/v1/redemptions/{rid}/rollback", {}, shop.key)
    # then the retry is the first success; without the key it is refused as already done
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert plain.json()["key"] == "already_rolled_back"


def test_an_unusable_idempotency_key_is_400(client, shop):
    shop.voucher("IDEM-0007")
    response = post(client, "/v1/redemptions", body("IDEM-0007"), shop.key, "x" * 300)
    assert response.status_code == 400
    assert response.json()["key"] == "invalid_idempotency_key"
    with schema_context("p_alpha"):
        assert not Redemption.objects.filter(voucher__code="IDEM-0007").exists()
