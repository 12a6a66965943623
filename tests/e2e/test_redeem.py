"""A merchant redeems a code in a real browser, then sees the failure for the used code."""

from __future__ import annotations

import re

import pytest
from django_tenants.utils import schema_context
from playwright.sync_api import expect

from apps.campaigns.models import Campaign, Voucher
from apps.redemptions import throttle
from apps.redemptions.models import Merchant, Redemption, RedemptionAttempt
from tests.conftest import committed_db
from tests.e2e.conftest import sign_in
from tests.factories import PASSWORD, MerchantFactory, VoucherFactory, ensure_partner

pytestmark = [pytest.mark.browser, pytest.mark.slow, committed_db()]

SLOW = 15_000  # ms: a loaded CI machine may take a while to answer a redemption


def settled(page) -> None:
    """Wait until htmx has finished swapping and wired up the new form: a click in the few
    milliseconds before that would submit it the plain way (which works, but reloads)."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )


@pytest.fixture
def counter(partner_a, merchant_a):
    """merchant_a's shop in alpha, allowed on the single-use code SHOP-0001 (5.00 off).
    Committed for the live server; campaigns survive the flush, so they are removed here."""
    partner = ensure_partner("alpha")
    with schema_context(partner.schema_name):
        voucher = VoucherFactory(code="SHOP-0001")
        shop = MerchantFactory(name="Corner Shop", user=merchant_a, allowed=[voucher.campaign])
    yield merchant_a
    throttle.reset(f"merchant:{shop.pk}", "ip:127.0.0.1")  # the unknown code tried below
    with schema_context(partner.schema_name):
        for model in (RedemptionAttempt, Redemption, Merchant, Voucher, Campaign):
            model.objects.all().delete()


def test_merchant_redeems_a_code_then_sees_it_is_used(page, counter):
    # given
    sign_in(page, counter.email, PASSWORD)
    expect(page).to_have_url(re.compile(r"/p/alpha/redeem/$"))
    # when the merchant checks, then redeems the code
    page.evaluate("window.stillThisPage = true")  # gone if the browser loads a new page
    page.get_by_label("Code").fill("shop-0001")
    page.get_by_label("Order amount").fill("25.99")
    page.get_by_role("button", name="Check").click()
    result = page.get_by_test_id("result")
    expect(result).to_contain_text("Valid", timeout=SLOW)
    settled(page)
    expect(page.get_by_test_id("amount-after")).to_have_text("20.99")
    page.get_by_role("button", name="Redeem").click()
    # then it is redeemed on the same page (HTMX), with the discount and the redemption id
    expect(result).to_contain_text("Redeemed", timeout=SLOW)
    settled(page)
    expect(page.get_by_test_id("discount")).to_contain_text("5.00")
    expect(page.get_by_test_id("redemption-id")).to_have_text(re.compile(r"^r_[0-9a-f]+$"))
    assert page.evaluate("window.stillThisPage") is True
    expect(page.get_by_label("Code")).to_have_value("")
    # when the same code is tried again (after fixing a badly typed amount)
    page.get_by_label("Code").fill("SHOP-0001")
    page.get_by_label("Order amount").fill("12,50")
    page.get_by_role("button", name="Redeem").click()
    expect(page.get_by_text("with a dot for the cents")).to_be_visible(timeout=SLOW)
    settled(page)
    page.get_by_label("Order amount").fill("12.50")
    page.get_by_role("button", name="Redeem").click()
    # then a plain sentence says why not
    expect(result).to_contain_text("This code has already been used.", timeout=SLOW)
    settled(page)
    assert page.evaluate("window.stillThisPage") is True
    # and the redemption is in the merchant's history
    page.get_by_role("link", name="My redemptions").first.click()
    expect(page.get_by_test_id("redemption-row")).to_have_count(1)
    expect(page.get_by_test_id("redemption-row")).to_contain_text("SHOP-0001")


def test_the_form_works_without_javascript(browser, live_server, counter):
    # given a browser with JavaScript switched off
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in(page, counter.email, PASSWORD)
        # when
        page.get_by_label("Code").fill("SHOP-0001")
        page.get_by_role("button", name="Redeem").click()
        # then the whole page comes back with the result
        expect(page.get_by_test_id("result")).to_contain_text("Redeemed", timeout=SLOW)
        page.get_by_label("Code").fill("NO-SUCH-CODE")
        page.get_by_role("button", name="Check").click()
        expect(page.get_by_test_id("result")).to_contain_text(
            "No code “NO-SUCH-CODE” exists", timeout=SLOW
        )
    finally:
        context.close()
