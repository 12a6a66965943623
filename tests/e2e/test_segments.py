"""In a real browser: a partner user builds an active segment with two conditions in the HTMX
filter builder and watches the live count change, then saves it."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context
from playwright.sync_api import expect

from apps.customers.models import Customer, Order, Segment, SegmentMembership
from tests.conftest import committed_db
from tests.e2e.conftest import sign_in
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow, committed_db()]


def preview_answer(*needles: str):
    """Matches the preview answer to a request carrying all `needles` (form fragments)."""

    def match(response) -> bool:
        data = response.request.post_data or ""
        return response.url.endswith("/segments/preview/") and all(n in data for n in needles)

    return match


@pytest.fixture(autouse=True)
def _drop_partner_rows(partner_a):
    """Committed rows in the partner schema survive the flush: remove them after the test."""
    yield
    with schema_context(partner_a.schema_name):
        SegmentMembership.objects.all().delete()
        Segment.objects.all().delete()
        Order.objects.all().delete()
        Customer.objects.all().delete()


def test_build_a_segment_with_two_conditions_and_see_the_count_change(
    page, partner_a, partner_user_a
):
    # given four customers, two in Germany, one of whom has an order
    with schema_context(partner_a.schema_name):
        de_buyer = Customer.objects.create(name="Dora Buyer", country="DE")
        Customer.objects.create(name="Dan Browser", country="DE")
        Customer.objects.create(name="Fay", country="FR")
        Customer.objects.create(name="Ian", country="IT")
        Order.objects.create(public_id="ord_e2e", customer=de_buyer, amount=1200, status="PAID")
    sign_in(page, partner_user_a.email, PASSWORD)
    page.goto("/p/alpha/segments/new/")
    page.get_by_label("Name").fill("German buyers")
    count = page.get_by_test_id("preview-count")

    # when the first condition is chosen: country is DE
    with page.expect_response(preview_answer("field=country&key=&op=is")):
        page.get_by_label("Condition 1: field").select_option("country")
    expect(page.get_by_label("Condition 1: operator")).to_have_value("is")
    # typed key by key: the builder listens to keyup, as a person types
    page.get_by_label("Condition 1: value").press_sequentially("DE")
    # then the live count shows the two German customers
    expect(count).to_have_text("2")

    # when a second condition is added: number of orders >= 1
    # (each row change re-renders the builder, which then asks for a preview of the new rows:
    # waiting for that answer means htmx has wired up the new row before the test touches it)
    with page.expect_response(preview_answer("value=DE&days=&field=&")):
        page.get_by_role("button", name="Add condition").click()
    with page.expect_response(preview_answer("field=orders_count&key=&op=eq")):
        page.get_by_label("Condition 2: field").select_option("orders_count")
    with page.expect_response(preview_answer("field=orders_count&key=&op=gte")):
        page.get_by_label("Condition 2: operator").select_option("gte")
    page.get_by_label("Condition 2: value").press_sequentially("1")
    # then the count drops to the one buyer, shown in the sample
    expect(count).to_have_text("1")
    expect(page.get_by_test_id("preview-sample")).to_contain_text("Dora Buyer")

    # when switching to "any"
    page.get_by_label("Match any condition (OR)").check()
    expect(count).to_have_text("2")
    page.get_by_label("Match all conditions (AND)").check()
    expect(count).to_have_text("1")

    # and saving
    page.get_by_role("button", name="Create segment").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("German buyers")
    with schema_context(partner_a.schema_name):
        segment = Segment.objects.get()
        assert [c["field"] for c in segment.filter["conditions"]] == ["country", "orders_count"]
