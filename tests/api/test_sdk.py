"""The official `voucherify` Python SDK (6.x), pointed at our server with `host=`, works
unchanged: the contract that lets a merchant integration written for Voucherify switch over by
changing the host. Runs against pytest-django's live server (a real HTTP server thread), so the
data must be committed."""

from __future__ import annotations

import json
import uuid

import pytest
import voucherify
from django_tenants.utils import schema_context
from voucherify.exceptions import ForbiddenException, NotFoundException, UnauthorizedException

from apps.redemptions.models import Redemption, RedemptionAttempt
from tests.api.conftest import Key
from tests.conftest import committed_db

pytestmark = [pytest.mark.slow, committed_db()]


def sdk(live_server, key: Key) -> voucherify.ApiClient:
    config = voucherify.Configuration(
        host=live_server.url, api_key={"X-App-Id": key.app_id, "X-App-Token": key.token}
    )
    return voucherify.ApiClient(config)


def redeem_body(code: str, amount: int | None = 2000) -> voucherify.RedemptionsRedeemRequestBody:
    return voucherify.RedemptionsRedeemRequestBody(
        redeemables=[
            voucherify.RedemptionsRedeemRequestBodyRedeemablesItem(object="voucher", id=code)
        ],
        order=voucherify.Order(amount=amount) if amount is not None else None,
        customer=voucherify.Customer(source_id="cust-42"),
        metadata={"till": "3"},
    )


def unique_code() -> str:
    return "SDK-" + uuid.uuid4().hex[:10].upper()


def test_validate_redeem_get_and_rollback_through_the_sdk(live_server, shop):
    # given a single-use code worth 5.00 off
    code = unique_code()
    shop.voucher(code)
    client = sdk(live_server, shop.key)

    # when the till validates it for a 20.00 order
    validation = voucherify.ValidationsApi(client).validate_stacked_discounts(
        voucherify.ValidationsValidateRequestBody(
            redeemables=[
                voucherify.ValidationsValidateRequestBodyRedeemablesItem(object="voucher", id=code)
            ],
            order=voucherify.Order(amount=2000),
        )
    )
    # then it is valid, with the discount and the total after it
    assert validation.valid is True
    item = validation.redeemables[0]
    assert (item.status, item.id, item.result.discount.type) == ("APPLICABLE", code, "AMOUNT")
    assert item.result.discount.amount_off == 500
    assert validation.order.total_amount == 1500

    # when it redeems the code
    redeemed = voucherify.RedemptionsApi(client).redeem_stacked_discounts(redeem_body(code))
    # then one redemption, tied to the merchant and the key
    (redemption,) = redeemed.redemptions
    assert (redemption.result, redemption.status) == ("SUCCESS", "SUCCEEDED")
    assert redemption.voucher.code == code
    assert redemption.order.discount_amount == 500
    assert redemption.customer.source_id == "cust-42"
    with schema_context("p_alpha"):
        row = Redemption.objects.get(public_id=redemption.id)
        assert (row.merchant_id, row.api_key_id, row.order_amount) == (
            shop.merchant.pk,
            shop.key.pk,
            2000,
        )

    # when it reads the redemption and the voucher back
    fetched = voucherify.RedemptionsApi(client).get_redemption(redemption.id)
    voucher = voucherify.VouchersApi(client).get_voucher(code)
    listed = voucherify.RedemptionsApi(client).list_redemptions(limit=10, page=1)
    # then
    assert fetched.id == redemption.id
    assert voucher.redemption.redeemed_quantity == 1
    assert voucher.redemption.quantity == 1
    assert [r.id for r in listed.redemptions] == [redemption.id]
    assert listed.total == 1

    # when it rolls the redemption back
    rollback = voucherify.RedemptionsApi(client).rollback_redemption(
        redemption.id, reason="customer changed mind"
    )
    # then the code can be used again
    assert (rollback.object, rollback.redemption, rollback.result) == (
        "redemption_rollback",
        redemption.id,
        "SUCCESS",
    )
    assert rollback.reason == "customer changed mind"
    assert voucherify.VouchersApi(client).get_voucher(code).redemption.redeemed_quantity == 0


def test_a_used_code_is_valid_false_in_validation_and_an_error_in_redemption(live_server, shop):
    # given a code already used once
    code = unique_code()
    shop.voucher(code)
    client = sdk(live_server, shop.key)
    voucherify.RedemptionsApi(client).redeem_stacked_discounts(redeem_body(code))

    # when validated again
    validation = voucherify.ValidationsApi(client).validate_stacked_discounts(
        voucherify.ValidationsValidateRequestBody(
            redeemables=[
                voucherify.ValidationsValidateRequestBodyRedeemablesItem(object="voucher", id=code)
            ]
        )
    )
    # then HTTP 200 with valid: false and Voucherify's key
    assert validation.valid is False
    assert validation.redeemables[0].status == "INAPPLICABLE"
    assert validation.inapplicable_redeemables[0].result.error.key == "quantity_exceeded"

    # when redeemed again, the SDK raises with Voucherify's error body
    with pytest.raises(voucherify.ApiException) as raised:
        voucherify.RedemptionsApi(client).redeem_stacked_discounts(redeem_body(code))
    assert raised.value.status == 400
    assert json.loads(raised.value.body)["key"] == "quantity_exceeded"


def test_unknown_code_is_not_found_through_the_sdk(live_server, shop):
    client = sdk(live_server, shop.key)
    # when
    validation = voucherify.ValidationsApi(client).validate_stacked_discounts(
        voucherify.ValidationsValidateRequestBody(
            redeemables=[
                voucherify.ValidationsValidateRequestBodyRedeemablesItem(
                    object="voucher", id="NO-SUCH-CODE"
                )
            ]
        )
    )
    # then
    assert validation.valid is False
    assert validation.redeemables[0].result.error.key == "not_found"
    with pytest.raises(NotFoundException) as raised:
        voucherify.VouchersApi(client).get_voucher("NO-SUCH-CODE")
    assert json.loads(raised.value.body)["key"] == "not_found"


def test_partner_key_lists_vouchers_by_campaign_through_the_sdk(live_server, shop):
    # given three codes in the merchant's campaign
    codes = sorted(unique_code() for _ in range(3))
    for code in codes:
        shop.voucher(code)
    client = sdk(live_server, shop.partner_key)
    # when the partner lists them by campaign name, then by id, two per page
    by_name = voucherify.VouchersApi(client).list_vouchers(campaign=shop.campaign.name, limit=2)
    by_id = voucherify.VouchersApi(client).list_vouchers(
        campaign_id=f"camp_{shop.campaign.pk}", limit=2, page=2
    )
    # then
    assert by_name.total == by_id.total == 3
    assert [v.code for v in by_name.vouchers] == codes[:2]
    assert [v.code for v in by_id.vouchers] == codes[2:]
    # and a merchant key may not list codes
    with pytest.raises(ForbiddenException):
        voucherify.VouchersApi(sdk(live_server, shop.key)).list_vouchers()


def test_bad_or_revoked_key_is_401_through_the_sdk(live_server, shop):
    # given a key with a wrong token
    wrong = Key(app_id=shop.key.app_id, token="not-the-token", pk=shop.key.pk)
    # when / then
    with pytest.raises(UnauthorizedException) as raised:
        voucherify.RedemptionsApi(sdk(live_server, wrong)).list_redemptions()
    body = json.loads(raised.value.body)
    assert body["key"] == "unauthorized"
    assert "X-App-Id" in body["details"]
    with schema_context("p_alpha"):
        assert not RedemptionAttempt.objects.exists()


def test_idempotency_key_through_the_sdk(live_server, shop):
    # given a limit-5 code
    code = unique_code()
    shop.voucher(code, limit=5)
    client = sdk(live_server, shop.key)
    api = voucherify.RedemptionsApi(client)
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    # when the same redeem is sent three times with the same key
    answers = [api.redeem_stacked_discounts(redeem_body(code), _headers=headers) for _ in range(3)]
    # then every answer is the first one, and the code was redeemed once
    assert len({a.redemptions[0].id for a in answers}) == 1
    with schema_context("p_alpha"):
        assert Redemption.objects.filter(voucher__code=code).count() == 1
