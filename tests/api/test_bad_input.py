"""Bad input to the API, sent as raw HTTP: each gets a Voucherify-style error body with a key
and a sentence naming the problem, and nothing stored changes."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings
from django_tenants.utils import schema_context

from apps.accounts.apikeys import api_key_revoke
from apps.accounts.models import ApiKey
from apps.api.auth import MAX_BODY_BYTES
from apps.campaigns.models import Voucher
from apps.redemptions.models import Redemption, RedemptionAttempt

CODE = "GOOD-0001"


def redeem_payload(code=CODE, amount=2000, **extra) -> dict:
    return {"redeemables": [{"object": "voucher", "id": code}], "order": {"amount": amount}} | extra


def post(client, path: str, body, key, **headers):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(path, data=data, content_type="application/json", **key.headers, **headers)


def state() -> tuple[int, int]:
    """What a refused request must leave alone: redemptions and redeemed counts."""
    with schema_context("p_alpha"):
        return (
            Redemption.objects.count(),
            sum(Voucher.objects.values_list("redeemed_quantity", flat=True)),
        )


def assert_error(response, status: int, key: str, *words: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) >= {"code", "key", "message", "details", "request_id"}
    assert (body["code"], body["key"]) == (status, key)
    for word in words:
        assert word in body["details"], body["details"]
    return body


@pytest.fixture
def good(shop):
    shop.voucher(CODE)
    shop.before = state()  # live-server tests may have left redeemed codes in the schema
    return shop


@pytest.mark.parametrize(
    ("body", "key", "words"),
    [
        ('{"redeemables": [', "invalid_payload", ["not valid JSON", "line 1"]),
        ("", "invalid_payload", ["empty"]),
        ("[1, 2]", "invalid_payload", ["JSON object", "a list"]),
        (b'{"redeemables": "\xff"}', "invalid_payload", ["UTF-8"]),
        ({"order": {"amount": 100}}, "invalid_payload", ["redeemables"]),
        ({"redeemables": []}, "invalid_payload", ["redeemables"]),
        ({"redeemables": ["GOOD-0001"]}, "invalid_payload", ["redeemables[0]", "a string"]),
        ({"redeemables": [{"object": "voucher", "id": 1234}]}, "invalid_payload", ["a number"]),
        ({"redeemables": [{"object": "voucher"}]}, "invalid_payload", ["missing"]),
        (
            {"redeemables": [{"object": "promotion_tier", "id": "promo_1"}]},
            "invalid_payload",
            ["promotion_tier", "voucher"],
        ),
        (
            {"redeemables": [{"object": "voucher", "id": "A"}, {"object": "voucher", "id": "B"}]},
            "invalid_payload",
            ["exactly one"],
        ),
        (redeem_payload(amount="abc"), "invalid_amount", ["order.amount", "a string"]),
        (redeem_payload(amount="2000"), "invalid_amount", ["whole number"]),
        (redeem_payload(amount=20.5), "invalid_amount", ["a number"]),
        (redeem_payload(amount=True), "invalid_amount", ["a boolean"]),
        (redeem_payload(amount=-1), "invalid_amount", ["negative"]),
        (redeem_payload(amount=10**15), "invalid_amount", ["too large"]),
        (redeem_payload(discount=5), "invalid_payload", ["Unknown field", "discount"]),
        (redeem_payload(order=[1]), "invalid_payload", ["order", "JSON object"]),
        (redeem_payload(customer="bob"), "invalid_payload", ["customer"]),
        (redeem_payload(tracking_id=7), "invalid_payload", ["tracking_id", "string"]),
        (redeem_payload(session={"type": "LOCK"}), "invalid_payload", ["session"]),
        (redeem_payload(metadata={"note": "a\x00b"}), "invalid_payload", ["NUL"]),
        ('{"metadata": ' + "[" * 5000 + "]" * 5000 + "}", "invalid_payload", ["nested"]),
    ],
)
@pytest.mark.parametrize("path", ["/v1/redemptions", "/v1/validations"])
def test_malformed_bodies_are_400_and_change_nothing(client, good, path, body, key, words):
    # given
    before = state()
    # when
    response = post(client, path, body, good.key)
    # then
    assert_error(response, 400, key, *words)
    assert state() == before
    with schema_context("p_alpha"):
        assert not RedemptionAttempt.objects.exists()  # refused before reaching the service


def test_body_over_the_limit_is_413(client, good):
    # given a body padded past the limit
    body = redeem_payload(metadata={"pad": "x" * MAX_BODY_BYTES})
    # when
    response = post(client, "/v1/redemptions", body, good.key)
    # then
    assert_error(response, 413, "payload_too_large", f"{MAX_BODY_BYTES:,}")
    assert state() == good.before


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("GOOD-ОООI", ["look-alike"]),  # Cyrillic O's
        ("X" * 10_000, ["at most 100 characters"]),
        ("NOPE-0001", ["No code"]),
    ],
)
def test_codes_that_cannot_exist_are_not_found(client, good, code, words):
    # when redeemed, the body is Voucherify's 404 for a voucher
    before = state()
    response = post(client, "/v1/redemptions", redeem_payload(code=code), good.key)
    body = assert_error(response, 404, "not_found", *words)
    assert body["resource_type"] == "voucher"
    # when validated, HTTP 200 with valid: false and the same key
    response = post(client, "/v1/validations", redeem_payload(code=code), good.key)
    assert response.status_code == 200
    assert response.json()["valid"] is False
    error = response.json()["inapplicable_redeemables"][0]["result"]["error"]
    assert error["key"] == "not_found"
    # then nothing was redeemed, and both failures are in the attempt log
    assert state() == before
    with schema_context("p_alpha"):
        assert list(RedemptionAttempt.objects.values_list("ok", flat=True)) == [False, False]


def test_lowercase_and_spaced_codes_are_read_as_the_code(client, good):
    # when a till sends the code as a person typed it
    response = post(client, "/v1/redemptions", redeem_payload(code="  good-0001\t"), good.key)
    # then it is the same code
    assert response.status_code == 200
    assert response.json()["redemptions"][0]["voucher"]["code"] == CODE


def test_percent_code_without_amount_is_valid_false_with_missing_amount(client, shop):
    # given a percent-off code
    with schema_context("p_alpha"):
        shop.campaign.discount_type = "PERCENT"
        shop.campaign.percent_off = 10
        shop.campaign.save()
    shop.voucher("PCT-0001")
    # when validated without an order amount
    body = {"redeemables": [{"object": "voucher", "id": "PCT-0001"}]}
    response = post(client, "/v1/validations", body, shop.key)
    # then
    assert response.status_code == 200
    assert response.json()["redeemables"][0]["result"]["error"]["key"] == "missing_amount"


def test_another_partners_code_is_not_found(client, good, beta):
    # when alpha's merchant tries beta's code, and beta's merchant tries alpha's
    mine = post(client, "/v1/redemptions", redeem_payload(code=beta.code), good.key)
    theirs = post(client, "/v1/redemptions", redeem_payload(code=CODE), beta.key)
    lookup = client.get(f"/v1/vouchers/{CODE}", **beta.key.headers)
    # then each is told the code does not exist
    assert_error(mine, 404, "not_found")
    assert_error(theirs, 404, "not_found")
    assert lookup.status_code == 404
    assert state() == good.before
    with schema_context("p_beta"):
        assert not Voucher.objects.filter(code=beta.code, redeemed_quantity__gt=0).exists()


def test_another_partners_redemption_is_not_found(client, good, beta):
    # given a redemption in alpha
    response = post(client, "/v1/redemptions", redeem_payload(), good.key)
    rid = response.json()["redemptions"][0]["id"]
    # when beta's key reads it or rolls it back
    read = client.get(f"/v1/redemptions/{rid}", **beta.key.headers)
    undo = post(client, f"/v1/redemptions/{rid}/rollback", {}, beta.key)
    # then 404, and the redemption still stands
    assert_error(read, 404, "not_found")
    assert_error(undo, 404, "not_found")
    with schema_context("p_alpha"):
        assert Redemption.objects.get(public_id=rid).status == Redemption.Status.SUCCEEDED


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_X_APP_ID": "alpha-0000"},
        {"HTTP_X_APP_ID": "alpha-0000", "HTTP_X_APP_TOKEN": "nope"},
    ],
)
def test_missing_or_wrong_key_is_401(client, good, headers):
    # when
    response = client.post(
        "/v1/redemptions", json.dumps(redeem_payload()), "application/json", **headers
    )
    # then
    assert_error(response, 401, "unauthorized", "X-App-Id", "X-App-Token")
    assert state() == good.before


def test_revoked_key_is_401(client, good):
    # given a revoked key
    api_key_revoke(key=ApiKey.objects.get(pk=good.key.pk))
    # when
    response = post(client, "/v1/redemptions", redeem_payload(), good.key)
    # then
    assert_error(response, 401, "unauthorized", "revoked")
    assert state() == good.before


def test_disabled_merchant_is_403(client, good):
    # given the partner disabled the merchant
    with schema_context("p_alpha"):
        good.merchant.is_active = False
        good.merchant.save()
    # when
    response = post(client, "/v1/redemptions", redeem_payload(), good.key)
    # then
    assert_error(response, 403, "merchant_not_allowed", "disabled")
    assert state() == good.before


def test_merchant_not_allowed_for_the_campaign_is_403(client, good):
    # given a code of a campaign the merchant may not redeem
    from tests.factories import CampaignFactory, VoucherFactory

    with schema_context("p_alpha"):
        VoucherFactory(campaign=CampaignFactory(name="Other"), code="OTHER-0001")
    # when
    response = post(client, "/v1/redemptions", redeem_payload(code="OTHER-0001"), good.key)
    lookup = client.get("/v1/vouchers/OTHER-0001", **good.key.headers)
    # then
    assert_error(response, 403, "merchant_not_allowed", "may not redeem")
    assert lookup.status_code == 404
    assert state() == good.before


@pytest.mark.parametrize(
    ("query", "words"),
    [("limit=0", ["limit", "1 to 100"]), ("limit=abc", ["limit"]), ("page=-1", ["page"])],
)
def test_bad_paging_is_400(client, good, query, words):
    response = client.get(f"/v1/redemptions?{query}", **good.key.headers)
    assert_error(response, 400, "invalid_param", *words)


def test_wrong_method_is_405(client, good):
    response = client.get("/v1/validations", **good.key.headers)
    assert_error(response, 405, "method_not_allowed", "POST")
    assert response["Allow"] == "POST"


@override_settings(GUESS_THROTTLE_FAILURES=3, GUESS_THROTTLE_WINDOW=60)
def test_too_many_wrong_codes_is_429_with_retry_after(client, good):
    # given three wrong guesses from this key
    for n in range(3):
        response = post(client, "/v1/validations", redeem_payload(code=f"GUESS-{n}"), good.key)
        assert response.json()["valid"] is False
    # when the key tries again, even with a good code
    validation = post(client, "/v1/validations", redeem_payload(), good.key)
    redemption = post(client, "/v1/redemptions", redeem_payload(), good.key)
    lookup = client.get(f"/v1/vouchers/{CODE}", **good.key.headers)
    # then it must wait, and is told how long
    for response in (validation, redemption, lookup):
        assert_error(response, 429, "too_many_requests", "try again in")
        assert 0 < int(response["Retry-After"]) <= 60
    assert state() == good.before


@override_settings(GUESS_THROTTLE_FAILURES=3, GUESS_THROTTLE_WINDOW=60)
def test_used_up_codes_do_not_count_as_guesses(client, good):
    # given the code is redeemed, then refused as used up several times
    post(client, "/v1/redemptions", redeem_payload(), good.key)
    for _ in range(4):
        assert post(client, "/v1/redemptions", redeem_payload(), good.key).status_code == 400
    # then the key is not locked out
    assert post(client, "/v1/validations", redeem_payload(), good.key).status_code == 200


# A NUL in the id is refused before the view (tests/core/test_input_characters.py).
@pytest.mark.parametrize("rid", ["nope", "r_" + "a" * 200, "R_ABC"])
def test_malformed_redemption_ids_are_404(client, good, rid):
    # when
    read = client.get(f"/v1/redemptions/{rid}", **good.key.headers)
    undo = post(client, f"/v1/redemptions/{rid}/rollback", {}, good.key)
    # then
    assert_error(read, 404, "not_found", "r_0123")
    assert_error(undo, 404, "not_found")
