"""A brand admin creates a program in a real browser, allocates a pool of codes to partner
alpha and watches the progress bar fill while a real worker generates them."""

from __future__ import annotations

import re

import pytest
from django_tenants.utils import schema_context
from playwright.sync_api import expect

from apps.brand.models import Allocation
from apps.campaigns.models import Campaign, Voucher
from tests.conftest import committed_db
from tests.e2e.conftest import sign_in
from tests.factories import PASSWORD, ProgramFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow, committed_db()]


def test_brand_admin_allocates_codes_and_watches_the_progress_bar(
    page, brand_admin, partner_a, worker
):
    # given
    sign_in(page, brand_admin.email, PASSWORD)
    page.goto("/brand/programs/")
    page.get_by_role("link", name="New program").first.click()
    # when the admin fills in a program and types a pattern, the preview follows it
    page.get_by_label("Name").fill("Summer sale")
    page.get_by_label("Amount off (minor units)").fill("750")
    page.get_by_label("Pattern").fill("SUMMER-####")
    preview = page.get_by_test_id("code-preview")
    expect(preview).to_contain_text(re.compile(r"SUMMER-[A-Z0-9]{4}"))
    page.get_by_label("Pattern").fill("SUMMER")
    expect(preview).to_contain_text("must contain at least one '#'")
    page.get_by_label("Pattern").fill("SUMMER-####-####")
    expect(preview).to_contain_text(re.compile(r"SUMMER-[A-Z0-9]{4}-[A-Z0-9]{4}"))
    page.get_by_role("button", name="Create program").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Summer sale")
    # and allocates 5,000 codes to partner alpha
    page.get_by_label("Partner").select_option(label="Alpha Retail")
    page.get_by_label("Number of codes").fill("5000")
    page.get_by_role("button", name="Allocate codes").click()
    # then the bar fills while the worker generates the codes
    expect(page).to_have_url(re.compile(r"/brand/allocations/\d+/$"))
    bar = page.get_by_role("progressbar")
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=60_000)
    expect(page.get_by_test_id("job-message")).to_contain_text(
        "5,000 codes of Summer sale are ready for Alpha Retail"
    )
    allocation = Allocation.objects.get()
    assert (allocation.status, allocation.codes_created) == ("succeeded", 5000)
    with schema_context(partner_a.schema_name):
        campaign = Campaign.objects.get(program_id=allocation.program_id)
        assert Voucher.objects.filter(campaign=campaign).count() == 5000
    # and the history lists it as done
    page.get_by_role("link", name="Allocations", exact=True).click()
    expect(page.get_by_role("cell", name="Summer sale")).to_be_visible()
    expect(page.get_by_text("Done").first).to_be_visible()


def test_allocation_form_explains_a_format_too_small(page, brand_admin, partner_a):
    # given a program whose format makes only 64 codes (2 characters ^ 6)
    program = ProgramFactory(
        name="Tiny", code_charset="custom", code_custom_charset="AB", code_length=6
    )
    sign_in(page, brand_admin.email, PASSWORD)
    page.goto(f"/brand/programs/{program.pk}/")
    # when
    page.get_by_label("Partner").select_option(label="Alpha Retail")
    page.get_by_label("Number of codes").fill("40")
    page.get_by_role("button", name="Allocate codes").click()
    # then
    error = page.locator("#id_quantity_error")
    expect(error).to_contain_text("at most 64 distinct codes")
    expect(page.get_by_label("Number of codes")).to_have_attribute("aria-invalid", "true")
    assert not Allocation.objects.exists()


@pytest.fixture(autouse=True)
def _clean_alpha_campaigns(db):
    """The flush after a committed test empties public tables; the partner campaign this test
    made lives in alpha's schema, so it goes here (before the flush forgets the programs)."""
    yield
    from apps.brand.models import Program

    program_ids = list(Program.objects.values_list("pk", flat=True))
    with schema_context("p_alpha"):
        Campaign.objects.filter(program_id__in=program_ids).delete()
