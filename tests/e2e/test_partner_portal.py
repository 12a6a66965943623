"""In a real browser: a partner user filters a campaign's codes in place (HTMX), creates a
merchant, issues its key (shown once) and revokes it after confirming."""

from __future__ import annotations

import re

import pytest
from django_tenants.utils import schema_context
from playwright.sync_api import expect

from apps.accounts.models import ApiKey
from apps.campaigns.models import Voucher
from tests.conftest import committed_db
from tests.e2e.conftest import sign_in
from tests.factories import PASSWORD, CampaignFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow, committed_db()]


@pytest.fixture(autouse=True)
def _drop_partner_rows(partner_a):
    """The flush after a committed test empties public tables (and, by CASCADE, partner rows
    pointing at users) but not campaigns and codes in the partner schema: remove them here so
    later tests start from an empty partner."""
    yield
    from guardian.models import UserObjectPermission

    from apps.campaigns.models import Campaign
    from apps.redemptions.models import Merchant

    with schema_context(partner_a.schema_name):
        UserObjectPermission.objects.all().delete()
        Merchant.objects.all().delete()
        Voucher.objects.all().delete()
        Campaign.objects.all().delete()


def test_partner_user_filters_codes_and_manages_a_merchant_key(page, partner_a, partner_user_a):
    # given a campaign with 80 codes
    with schema_context(partner_a.schema_name):
        campaign = CampaignFactory(name="Browser sale")
        Voucher.objects.bulk_create(
            Voucher(campaign=campaign, code=f"WEB{i:04d}", redemption_limit=1) for i in range(80)
        )
    sign_in(page, partner_user_a.email, PASSWORD)

    # when searching the codes table
    page.goto(f"/p/alpha/campaigns/{campaign.pk}/")
    expect(page.get_by_test_id("count-total")).to_have_text("80")
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    page.get_by_label("Search codes").fill("web007")
    # then the table updates in place and the address keeps the filter
    expect(page.locator("#codes tbody tr")).to_have_count(10)
    expect(page).to_have_url(re.compile(r"q=web007"))

    # when creating a merchant allowed to redeem the campaign
    page.goto("/p/alpha/merchants/new/")
    page.get_by_label("Name").fill("Browser Shop")
    page.get_by_label("Login email").fill("browser@shop.test")
    page.get_by_label("Browser sale").check()
    page.get_by_role("button", name="Create merchant").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Browser Shop")

    # and issuing a key
    page.get_by_label("Key name").fill("Till 1")
    page.get_by_role("button", name="Issue a key").click()
    token = page.get_by_test_id("issued-token").inner_text()
    assert len(token) > 30
    # then reloading the page never shows the token again
    page.goto(page.url.replace("keys/new/", ""))
    expect(page.get_by_test_id("issued-key")).to_have_count(0)
    assert token not in page.content()

    # when revoking it, the browser asks first
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=re.compile("^Revoke")).click()
    expect(page.get_by_text(re.compile("Revoked \\d{4}-"))).to_be_visible()
    assert ApiKey.objects.get(name="Till 1").revoked_at is not None
