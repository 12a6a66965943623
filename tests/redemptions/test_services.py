"""The redemption service: rules, the attempt log and the brand rollups."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from apps.brand.models import DailyRedemptions, PartnerProgramStats
from apps.redemptions.models import Channel, Redemption, RedemptionAttempt
from apps.redemptions.services import (
    Actor,
    RedemptionError,
    redemption_rollback,
    voucher_redeem,
    voucher_validate,
)
from tests.factories import MerchantFactory, VoucherFactory


@pytest.fixture
def shop(partner_a, merchant_a):
    with schema_context(partner_a.schema_name):
        voucher = VoucherFactory(code="SPRING-AAAA")
        merchant = MerchantFactory(user=merchant_a, allowed=[voucher.campaign])
        yield Actor(channel=Channel.WEB, merchant=merchant, user=merchant_a), voucher


def test_redeem_once_then_quantity_exceeded(shop, partner_a):
    actor, voucher = shop
    # when
    redemption = voucher_redeem(actor=actor, code=" spring-aaaa ", order_amount="2000")
    with pytest.raises(RedemptionError) as exc:
        voucher_redeem(actor=actor, code="SPRING-AAAA", order_amount=2000)
    # then
    assert redemption.discount_amount == 500
    assert exc.value.key == "quantity_exceeded"
    assert "already been used" in exc.value.message
    voucher.refresh_from_db()
    assert voucher.redeemed_quantity == 1
    attempts = list(RedemptionAttempt.objects.values_list("action", "ok", "reason"))
    assert attempts == [("redeem", False, "quantity_exceeded"), ("redeem", True, "")]
    stats = PartnerProgramStats.objects.get(partner=partner_a)
    assert (stats.redeemed, stats.discount_total) == (1, 500)


def test_validate_rejects_a_merchant_without_permission(shop, partner_a, merchant_a):
    _, voucher = shop
    other = MerchantFactory(user=None)
    # when
    with pytest.raises(RedemptionError) as exc:
        voucher_validate(actor=Actor(merchant=other), code="SPRING-AAAA")
    # then
    assert exc.value.key == "merchant_not_allowed"
    assert RedemptionAttempt.objects.get().merchant == other


def test_rollback_frees_the_code_and_the_rollups(shop, partner_a):
    actor, voucher = shop
    redemption = voucher_redeem(actor=actor, code="SPRING-AAAA", order_amount=300)
    # when
    redemption_rollback(actor=actor, redemption_id=redemption.public_id, reason="mistake")
    # then
    voucher.refresh_from_db()
    assert voucher.redeemed_quantity == 0
    assert Redemption.objects.get().status == Redemption.Status.ROLLED_BACK
    assert PartnerProgramStats.objects.get(partner=partner_a).redeemed == 0
    assert DailyRedemptions.objects.get(partner=partner_a).redeemed == 0
    assert voucher_redeem(actor=actor, code="SPRING-AAAA").discount_amount == 500
