"""The redemption service: rules, the attempt log and the brand rollups."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from apps import rollups
from apps.brand.models import DailyRedemptions, PartnerProgramStats, RollupDelta
from apps.redemptions.models import Redemption, RedemptionAttempt
from apps.redemptions.services import (
    ROLLBACK_WINDOW,
    Actor,
    RedemptionError,
    redemption_rollback,
    voucher_redeem,
    voucher_validate,
)
from tests.factories import MembershipFactory, MerchantFactory, VoucherFactory


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
    rollups.flush()
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
    rollups.flush()
    assert PartnerProgramStats.objects.get(partner=partner_a).redeemed == 0
    rollups.flush()
    assert DailyRedemptions.objects.get(partner=partner_a).redeemed == 0
    assert voucher_redeem(actor=actor, code="SPRING-AAAA").discount_amount == 500


# --- Every rule: the API's key, the finer reason, a sentence; nothing changes ---------------


def _now() -> dt.datetime:
    return timezone.now()


def _expired(voucher):
    voucher.campaign.expiration_date = _now() - dt.timedelta(minutes=1)


def _not_started(voucher):
    voucher.campaign.start_date = _now() + dt.timedelta(days=1)


def _wrong_day(voucher):
    today = timezone.localtime(_now()).weekday()
    voucher.campaign.valid_days = [(today + 1) % 7]


def _wrong_hours(voucher):
    # A one-hour window that starts two hours from now never contains now, even over midnight.
    local = timezone.localtime(_now())
    voucher.campaign.valid_hours_start = (local + dt.timedelta(hours=2)).time()
    voucher.campaign.valid_hours_end = (local + dt.timedelta(hours=3)).time()


def _voucher_off(voucher):
    voucher.active = False


def _campaign_off(voucher):
    voucher.campaign.active = False


def _used_up(voucher):
    voucher.redeemed_quantity = 1


def _percent(voucher):
    voucher.campaign.discount_type = "PERCENT"
    voucher.campaign.percent_off = Decimal("10")


RULES = [
    ("expired", _expired, "voucher_expired", "voucher_expired", "expired on"),
    ("not_started", _not_started, "voucher_not_active", "voucher_not_active", "not active yet"),
    ("wrong_day", _wrong_day, "voucher_not_active", "outside_valid_window", "only valid on"),
    ("wrong_hours", _wrong_hours, "voucher_not_active", "outside_valid_window", "cannot be used"),
    ("voucher_off", _voucher_off, "voucher_disabled", "voucher_disabled", "has been disabled"),
    ("campaign_off", _campaign_off, "voucher_disabled", "voucher_disabled", "has been disabled"),
    ("used_up", _used_up, "quantity_exceeded", "quantity_exceeded", "already been used"),
    ("no_amount", _percent, "missing_amount", "missing_amount", "Enter the order amount"),
]


@pytest.mark.parametrize("service", [voucher_validate, voucher_redeem], ids=["check", "redeem"])
@pytest.mark.parametrize(
    "change, key, reason, sentence", [r[1:] for r in RULES], ids=[r[0] for r in RULES]
)
def test_each_rule_refuses_with_its_key_and_a_sentence(
    shop, service, change, key, reason, sentence
):
    # given
    actor, voucher = shop
    change(voucher)
    voucher.save()
    voucher.campaign.save()
    before = voucher.redeemed_quantity
    # when
    with pytest.raises(RedemptionError) as exc:
        service(actor=actor, code="SPRING-AAAA")
    # then
    assert (exc.value.key, exc.value.reason) == (key, reason)
    assert sentence in exc.value.message and exc.value.message.endswith(".")
    voucher.refresh_from_db()
    assert voucher.redeemed_quantity == before
    assert not Redemption.objects.exists()
    attempt = RedemptionAttempt.objects.get()
    assert (attempt.ok, attempt.reason, attempt.merchant) == (False, reason, actor.merchant)


def test_unknown_code_is_not_found(shop):
    actor, _ = shop
    # when
    with pytest.raises(RedemptionError) as exc:
        voucher_validate(actor=actor, code="NOPE-0000")
    # then
    assert (exc.value.key, exc.value.http_status) == ("not_found", 404)
    assert "No code “NOPE-0000” exists here" in exc.value.message
    assert RedemptionAttempt.objects.get().reason == "not_found"


def test_another_partners_code_is_not_found(shop, partner_b):
    # given a code that exists only in partner beta
    actor, _ = shop
    with schema_context(partner_b.schema_name):
        VoucherFactory(code="BETA-0001")
    # when
    with pytest.raises(RedemptionError) as exc:
        voucher_redeem(actor=actor, code="BETA-0001")
    # then
    assert exc.value.key == "not_found"
    with schema_context(partner_b.schema_name):
        assert not Redemption.objects.exists()


def test_merchant_not_allowed_for_a_campaign_it_was_not_given(shop, partner_a):
    # given a merchant with a login but no permission on this campaign
    _, voucher = shop
    login = MembershipFactory(partner=partner_a, role="merchant").user
    stranger = MerchantFactory(user=login, allowed=[VoucherFactory().campaign])
    # when
    with pytest.raises(RedemptionError) as exc:
        voucher_redeem(actor=Actor(merchant=stranger, user=login), code="SPRING-AAAA")
    # then
    assert (exc.value.key, exc.value.http_status) == ("merchant_not_allowed", 403)
    assert voucher.campaign.name in exc.value.message and "ask the partner" in exc.value.message
    voucher.refresh_from_db()
    assert voucher.redeemed_quantity == 0


def test_disabled_merchant_is_not_allowed(shop):
    actor, _ = shop
    actor.merchant.is_active = False
    actor.merchant.save()
    # when
    with pytest.raises(RedemptionError) as exc:
        voucher_redeem(actor=actor, code="SPRING-AAAA")
    # then
    assert exc.value.key == "merchant_not_allowed"
    assert "disabled" in exc.value.message


def test_amount_discount_never_exceeds_the_order(shop):
    actor, _ = shop
    # when a 5.00 discount meets a 3.00 order
    check = voucher_validate(actor=actor, code="SPRING-AAAA", order_amount=300)
    # then
    assert (check.discount, check.amount_after) == (300, 0)


def test_percent_discount_is_capped_by_amount_limit(shop):
    # given 10% off, at most 3.00
    actor, voucher = shop
    campaign = voucher.campaign
    campaign.discount_type, campaign.percent_off, campaign.amount_limit = "PERCENT", 10, 300
    campaign.save()
    # when
    small = voucher_validate(actor=actor, code="SPRING-AAAA", order_amount=2599)
    large = voucher_redeem(actor=actor, code="SPRING-AAAA", order_amount=10_000)
    # then
    assert (small.discount, small.amount_after) == (259, 2340)
    assert (large.discount_amount, large.amount_after_discount) == (300, 9700)


def test_unit_discount_needs_no_amount(shop):
    # given one free coffee
    actor, voucher = shop
    campaign = voucher.campaign
    campaign.discount_type, campaign.unit_off, campaign.unit_type = "UNIT", 1, "coffee"
    campaign.save()
    # when
    redemption = voucher_redeem(actor=actor, code="SPRING-AAAA")
    # then
    assert redemption.discount_amount == 0
    assert campaign.discount_text() == "1 × coffee free"


def test_limit_five_accepts_exactly_five(shop, partner_a):
    # given
    actor, voucher = shop
    voucher.redemption_limit = 5
    voucher.save()
    # when
    for _ in range(5):
        voucher_redeem(actor=actor, code="SPRING-AAAA", order_amount=1000)
    with pytest.raises(RedemptionError) as exc:
        voucher_redeem(actor=actor, code="SPRING-AAAA", order_amount=1000)
    # then
    assert exc.value.key == "quantity_exceeded"
    assert "maximum 5 times" in exc.value.message
    voucher.refresh_from_db()
    assert voucher.redeemed_quantity == 5
    assert Redemption.objects.count() == 5
    rollups.flush()
    assert PartnerProgramStats.objects.get(partner=partner_a).redeemed == 5


# --- Rollback rules -------------------------------------------------------------------------


def test_rollback_only_of_own_redemptions(shop, partner_a):
    # given another merchant's redemption
    actor, voucher = shop
    redemption = voucher_redeem(actor=actor, code="SPRING-AAAA")
    other = MerchantFactory(user=None)
    # when
    with pytest.raises(RedemptionError) as exc:
        redemption_rollback(actor=Actor(merchant=other), redemption_id=redemption.pk)
    # then it looks as if it did not exist
    assert (exc.value.key, exc.value.http_status) == ("not_found", 404)
    redemption.refresh_from_db()
    assert redemption.status == Redemption.Status.SUCCEEDED
    voucher.refresh_from_db()
    assert voucher.redeemed_quantity == 1
    failed = RedemptionAttempt.objects.get(action="rollback")
    assert (failed.ok, failed.reason, failed.merchant) == (False, "not_found", other)


def test_rollback_outside_the_window_is_refused_for_a_merchant(shop, partner_a):
    # given a redemption made just over the window ago
    actor, voucher = shop
    redemption = voucher_redeem(actor=actor, code="SPRING-AAAA")
    Redemption.objects.filter(pk=redemption.pk).update(
        created_at=timezone.now() - ROLLBACK_WINDOW - dt.timedelta(minutes=1)
    )
    # when
    with pytest.raises(RedemptionError) as exc:
        redemption_rollback(actor=actor, redemption_id=redemption.pk)
    # then
    assert exc.value.key == "rollback_window_passed"
    assert "within 24 hours" in exc.value.message and "ask the partner" in exc.value.message
    voucher.refresh_from_db()
    assert voucher.redeemed_quantity == 1
    # but a partner key (no merchant) may still roll it back
    redemption_rollback(actor=Actor(), redemption_id=redemption.public_id)
    voucher.refresh_from_db()
    assert voucher.redeemed_quantity == 0


def test_rollback_twice_is_refused(shop):
    actor, voucher = shop
    redemption = voucher_redeem(actor=actor, code="SPRING-AAAA")
    redemption_rollback(actor=actor, redemption_id=redemption.pk)
    # when
    with pytest.raises(RedemptionError) as exc:
        redemption_rollback(actor=actor, redemption_id=redemption.pk)
    # then
    assert exc.value.key == "already_rolled_back"
    assert exc.value.message == "This redemption has already been rolled back."
    voucher.refresh_from_db()
    assert voucher.redeemed_quantity == 0


def test_rollback_counts_on_the_day_of_the_redemption(shop, partner_a):
    # given a redemption made two days ago
    actor, _ = shop
    redemption = voucher_redeem(actor=actor, code="SPRING-AAAA")
    earlier = timezone.now() - dt.timedelta(days=2)
    Redemption.objects.filter(pk=redemption.pk).update(created_at=earlier)
    rollups.flush()
    DailyRedemptions.objects.filter(partner=partner_a).update(day=timezone.localdate(earlier))
    # when the partner rolls it back today
    redemption_rollback(actor=Actor(), redemption_id=redemption.pk)
    # then that day's count drops, and no negative day appears today
    rollups.flush()
    days = dict(DailyRedemptions.objects.filter(partner=partner_a).values_list("day", "redeemed"))
    assert days == {timezone.localdate(earlier): 0}


def test_rollups_wait_in_deltas_until_flushed_and_fold_once(shop, partner_a):
    # given two redemptions, each leaving a delta row rather than touching shared counters
    actor, _ = shop
    second = VoucherFactory(campaign=shop[1].campaign, code="SPRING-BBBB")
    voucher_redeem(actor=actor, code="SPRING-AAAA", order_amount=1000)
    voucher_redeem(actor=actor, code=second.code, order_amount=1000)
    assert RollupDelta.objects.count() == 2
    assert not PartnerProgramStats.objects.filter(partner=partner_a).exists()
    # when the flush runs twice
    folded = [rollups.flush(), rollups.flush()]
    # then the deltas are folded exactly once
    assert folded == [2, 0]
    stats = PartnerProgramStats.objects.get(partner=partner_a)
    assert (stats.redeemed, stats.discount_total) == (2, 1000)
    assert DailyRedemptions.objects.get(partner=partner_a).redeemed == 2
    assert not RollupDelta.objects.exists()
