"""Fixtures for the redemption tests: a merchant of partner alpha allowed on a campaign, and a
clean guessing throttle (its counters live in the real Redis, shared across tests)."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from apps.redemptions import throttle
from apps.redemptions.models import Channel
from apps.redemptions.services import Actor
from tests.factories import MerchantFactory, VoucherFactory


def _clear_throttle() -> None:
    client = throttle._client()
    keys = list(client.scan_iter(match="guess-fail:*", count=500))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def clean_throttle():
    _clear_throttle()
    yield
    _clear_throttle()


@pytest.fixture
def shop(partner_a, merchant_a):
    """(actor, voucher): merchant_a's Merchant may redeem the single-use code SPRING-AAAA
    (5.00 off). Runs the test inside partner alpha's schema."""
    with schema_context(partner_a.schema_name):
        voucher = VoucherFactory(code="SPRING-AAAA")
        merchant = MerchantFactory(user=merchant_a, allowed=[voucher.campaign])
        yield Actor(channel=Channel.WEB, merchant=merchant, user=merchant_a), voucher
