"""A code is never redeemed beyond its limit, under any concurrency (ARCHITECTURE section 6):
50 real threads, each with its own PostgreSQL connection, redeem one code at the same moment."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps import rollups
from apps.brand.models import PartnerProgramStats
from apps.campaigns.models import Campaign, Voucher
from apps.redemptions.models import Merchant, Redemption, RedemptionAttempt
from apps.redemptions.services import Actor, RedemptionError, voucher_redeem
from tests.conftest import committed_db
from tests.factories import MerchantFactory, VoucherFactory, ensure_partner

pytestmark = [pytest.mark.slow, committed_db()]

THREADS = 50


@pytest.fixture
def committed_shop(partner_a, merchant_a):
    """A merchant and a campaign in alpha, really committed. The flush after a committed test
    empties public tables (and rows pointing at users) but not campaigns and vouchers, so they
    are removed here."""
    partner = ensure_partner("alpha")
    with schema_context(partner.schema_name):
        voucher = VoucherFactory(code="RACE-0001")
        merchant = MerchantFactory(user=merchant_a, allowed=[voucher.campaign])
        merchant = Merchant.objects.select_related("user").get(pk=merchant.pk)
    yield partner, merchant, voucher
    with schema_context(partner.schema_name):
        RedemptionAttempt.objects.all().delete()
        Redemption.objects.all().delete()
        Merchant.objects.all().delete()
        Voucher.objects.all().delete()
        Campaign.objects.all().delete()


def _race(schema: str, actor: Actor, code: str) -> Counter:
    """Start THREADS redemptions of `code` at once; count the outcomes by error key."""
    outcomes: Counter = Counter()
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def redeem() -> None:
        try:
            with schema_context(schema):
                start.wait()
                try:
                    voucher_redeem(actor=actor, code=code, order_amount=1000)
                    result = "ok"
                except RedemptionError as exc:
                    result = exc.key
        except Exception as exc:  # noqa: BLE001 - any other failure must show in the count
            result = f"crash: {exc!r}"
        finally:
            connection.close()  # each thread opened its own connection
        with lock:
            outcomes[result] += 1

    threads = [threading.Thread(target=redeem) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.mark.parametrize("limit", [1, 5])
def test_concurrent_redemptions_never_exceed_the_limit(committed_shop, limit):
    # given
    partner, merchant, voucher = committed_shop
    with schema_context(partner.schema_name):
        Voucher.objects.filter(pk=voucher.pk).update(redemption_limit=limit)
    actor = Actor(merchant=merchant, user=merchant.user, ip="10.0.0.1")
    # when
    outcomes = _race(partner.schema_name, actor, "RACE-0001")
    # then exactly `limit` succeed and every other one is told the code is used up
    assert outcomes == {"ok": limit, "quantity_exceeded": THREADS - limit}
    with schema_context(partner.schema_name):
        voucher.refresh_from_db()
        assert voucher.redeemed_quantity == limit
        assert Redemption.objects.filter(voucher=voucher).count() == limit
        # every attempt is recorded with its merchant and result
        attempts = Counter(
            RedemptionAttempt.objects.filter(merchant=merchant).values_list("ok", "reason")
        )
        assert attempts == {(True, ""): limit, (False, "quantity_exceeded"): THREADS - limit}
        rollups.flush()
        stats = PartnerProgramStats.objects.get(partner=partner)
        assert (stats.redeemed, stats.discount_total) == (limit, 500 * limit)
