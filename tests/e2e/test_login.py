"""Each role signs in through a real browser and lands on its own page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import committed_db
from tests.e2e.conftest import sign_in
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow, committed_db()]


def test_every_role_signs_in_and_sees_its_landing_page(
    page, brand_admin, partner_user_a, merchant_a
):
    for user, path, heading in (
        (brand_admin, "/brand/", "Brand dashboard"),
        (partner_user_a, "/p/alpha/", "Alpha Retail"),
        (merchant_a, "/p/alpha/redeem/", "Redeem a code"),
    ):
        # when
        sign_in(page, user.email, PASSWORD)
        # then
        expect(page).to_have_url(re.compile(re.escape(path) + "$"))
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        expect(page.get_by_test_id("user-email")).to_have_text(user.email)
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile("/accounts/login/"))


def test_wrong_password_shows_an_error(page, partner_user_a):
    # when
    sign_in(page, partner_user_a.email, "not-the-password")
    # then
    expect(page.get_by_role("alert")).to_contain_text("do not match an account")


def test_brand_admin_creates_a_partner_and_watches_the_progress_bar(page, brand_admin, worker):
    # given
    sign_in(page, brand_admin.email, PASSWORD)
    # when
    page.get_by_role("link", name="New partner").first.click()
    page.get_by_label("Name").fill("Zeta Stores")
    page.get_by_label("Slug").fill("zeta-stores")
    page.get_by_role("button", name="Create partner").click()
    # then the bar fills while the worker builds the schema
    expect(page).to_have_url(re.compile("/brand/partners/zeta-stores/$"))
    bar = page.get_by_role("progressbar")
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=60_000)
    expect(page.get_by_test_id("job-message")).to_contain_text("is ready")


@pytest.fixture(autouse=True)
def _drop_zeta(db):
    yield
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute('DROP SCHEMA IF EXISTS "p_zeta_stores" CASCADE')
