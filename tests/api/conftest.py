"""API fixtures: partner alpha with a campaign, a merchant allowed to redeem it and keys for
the merchant and the partner; partner beta with its own key. Keys are issued through the real
service, so the token is hashed exactly as in production."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
import redis
from django.conf import settings
from django_tenants.utils import schema_context

from apps.accounts.apikeys import api_key_issue
from apps.campaigns.models import Campaign, Voucher
from apps.redemptions.models import Merchant
from tests.conftest import truncate_partner_schemas
from tests.factories import CampaignFactory, MerchantFactory, VoucherFactory


@dataclass
class Key:
    app_id: str
    token: str
    pk: int

    @property
    def headers(self) -> dict[str, str]:
        """Headers for Django's test client."""
        return {"HTTP_X_APP_ID": self.app_id, "HTTP_X_APP_TOKEN": self.token}

    @property
    def http(self) -> dict[str, str]:
        """Headers for a real HTTP client."""
        return {"X-App-Id": self.app_id, "X-App-Token": self.token}


@dataclass
class Shop:
    campaign: Campaign
    merchant: Merchant
    key: Key  # the merchant's key
    partner_key: Key
    before: tuple = ()  # what a test saw before acting, to compare against

    def voucher(self, code: str, limit: int | None = 1, **kwargs) -> Voucher:
        with schema_context("p_alpha"):
            return VoucherFactory(
                campaign=self.campaign, code=code, redemption_limit=limit, **kwargs
            )


def issue(partner, merchant_id: int | None = None) -> Key:
    issued = api_key_issue(partner=partner, merchant_id=merchant_id, name="test")
    return Key(app_id=issued.key.app_id, token=issued.token, pk=issued.key.pk)


@pytest.fixture(autouse=True)
def _no_throttle_left_over():
    """Guess counters live in Redis beyond a test's transaction; start every test clean."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter("guess-fail:*"))
    if keys:
        client.delete(*keys)
    yield


@pytest.fixture(autouse=True)
def _empty_partner_schemas_after_committed_tests(request, django_db_blocker):
    """Live-server tests commit, and the flush after them empties only public tables (and
    partner rows pointing at public users): campaigns and codes would stay in the partner
    schemas and surprise later tests. Empty those schemas too."""
    yield
    marker = request.node.get_closest_marker("django_db")
    if not (marker and marker.kwargs.get("transaction")):
        return
    with django_db_blocker.unblock():
        truncate_partner_schemas()


@pytest.fixture
def shop(partner_a, merchant_a) -> Shop:
    with schema_context("p_alpha"):
        # Unique names: committed (live-server) tests leave campaigns behind in the schema.
        campaign = CampaignFactory(name=f"Spring sale {uuid.uuid4().hex[:8]}", amount_off=500)
        merchant = MerchantFactory(user=merchant_a, allowed=[campaign])
    return Shop(
        campaign=campaign,
        merchant=merchant,
        key=issue(partner_a, merchant.pk),
        partner_key=issue(partner_a),
    )


@dataclass
class Beta:
    key: Key  # a merchant key of partner beta
    code: str  # a code of partner beta that its merchant may redeem


@pytest.fixture
def beta(partner_b, merchant_b) -> Beta:
    with schema_context("p_beta"):
        campaign = CampaignFactory(name=f"Beta deal {uuid.uuid4().hex[:8]}")
        voucher = VoucherFactory(campaign=campaign, code=f"BETA-{uuid.uuid4().hex[:8].upper()}")
        merchant = MerchantFactory(user=merchant_b, allowed=[campaign])
    return Beta(key=issue(partner_b, merchant.pk), code=voucher.code)
