"""Fixtures for the partner's merchant pages: campaigns in partner alpha and a merchant."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from tests.factories import CampaignFactory, MerchantFactory

BASE = "/p/alpha/merchants/"


@pytest.fixture
def campaigns(partner_a):
    with schema_context(partner_a.schema_name):
        return [CampaignFactory(name="Autumn"), CampaignFactory(name="Spring")]


@pytest.fixture
def shop(partner_a, merchant_a, campaigns):
    """Merchant "Corner Shop" (login merchant_a) allowed to redeem the first campaign."""
    with schema_context(partner_a.schema_name):
        return MerchantFactory(name="Corner Shop", user=merchant_a, allowed=[campaigns[0]])
