"""In a real browser: a partner user walks the seven wizard steps for a manual email + SMS
distribution to a segment, writes the email in the rich-text editor with the merge-tag menu and
watches the live preview, launches it, and watches the metrics on its page reach the expected
numbers while a real RQ worker publishes the codes and sends the messages (sandbox channels).

With SCREENSHOTS=1 it also saves the README's pictures: docs/img/wizard.png (the message step)
and docs/img/metrics.png (the distribution's page after launch)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django_tenants.utils import schema_context
from playwright.sync_api import expect

from apps.campaigns.models import Voucher
from apps.customers.models import Customer, Segment, SegmentMembership
from apps.distributions.models import Distribution, Recipient
from apps.distributions.wizard.drafts import sms_count
from apps.messaging.models import OutboxMessage
from tests.conftest import committed_db
from tests.e2e.conftest import sign_in
from tests.factories import PASSWORD, CampaignFactory, VoucherFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow, committed_db()]

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "img"
SCREENSHOTS = os.environ.get("SCREENSHOTS") == "1"


def shoot(page, name: str, locator=None) -> None:
    if not SCREENSHOTS:
        return
    IMAGES.mkdir(parents=True, exist_ok=True)
    target = locator or page
    target.screenshot(path=str(IMAGES / name), **({} if locator else {"full_page": True}))


def preview_answer(prefix: str, *needles: str):
    """Matches the preview endpoint's answer for a panel whose posted form holds `needles`."""

    def match(response) -> bool:
        data = response.request.post_data or ""
        return (
            response.url.endswith("/preview/")
            and f"prefix={prefix}" in data
            and all(n in data for n in needles)
        )

    return match


@pytest.fixture
def newsletter(partner_a, empty_partner_schemas):
    """Four customers in a segment (one never agreed to email) and a campaign of 10 codes."""
    with schema_context(partner_a.schema_name):
        segment = Segment.objects.create(name="Newsletter", kind="static")
        for i, name in enumerate(["Ann Lee", "Bo Chen", "Cy Diaz", "Di Evans"]):
            customer = Customer.objects.create(
                name=name,
                email=f"{name.split()[0].lower()}@example.test",
                phone=f"+1415555{i:04d}",
                email_consent=i != 3,
                sms_consent=True,
            )
            SegmentMembership.objects.create(segment=segment, customer=customer)
        segment.members_count = 4
        segment.save(update_fields=["members_count"])
        campaign = CampaignFactory(name="Spring codes")
        for _ in range(10):
            VoucherFactory(campaign=campaign)
    return segment, campaign


def test_walk_the_wizard_launch_and_watch_the_metrics(
    page, partner_a, partner_user_a, newsletter, worker
):
    segment, campaign = newsletter
    page.set_viewport_size({"width": 1366, "height": 900})
    sign_in(page, partner_user_a.email, PASSWORD)
    page.goto("/p/alpha/distributions/new/")
    steps = page.get_by_test_id("wizard-steps")
    nxt = page.get_by_test_id("wizard-next")

    # step 1: type
    expect(page.get_by_role("heading", name="Step 1 of 7: Type")).to_be_visible()
    page.get_by_role("radio", name=re.compile("^Manual")).check()
    nxt.click()

    # step 2: name
    expect(page.get_by_role("heading", name="Step 2 of 7: Name")).to_be_visible()
    expect(steps.get_by_role("link", name="Type")).to_be_visible()  # step 1 is done: a link
    page.get_by_role("textbox", name="Name", exact=True).fill("Spring welcome")
    nxt.click()

    # step 3: channels, added with their plus (htmx swaps the cards)
    expect(page.get_by_role("heading", name="Step 3 of 7: Channels")).to_be_visible()
    expect(page.get_by_test_id("channel-email")).to_contain_text("sandbox")
    page.get_by_role("button", name="Add Email").click()
    expect(page.get_by_role("button", name="Remove Email")).to_be_visible()
    page.get_by_role("button", name="Add SMS").click()
    expect(page.get_by_role("button", name="Remove SMS")).to_be_visible()
    expect(page.get_by_test_id("channel-sms")).to_have_class(re.compile("is-active"))
    nxt.click()

    # step 4: the email in the rich-text editor, with merge tags from the menu
    expect(page.get_by_role("heading", name="Step 4 of 7: Message")).to_be_visible()
    page.get_by_role("textbox", name="Subject", exact=True).fill("A spring gift for you")
    editor = page.get_by_test_id("editor-email-html")
    editor.click()
    page.keyboard.type("Hi ")
    page.get_by_test_id("merge-tags-email").select_option("{{ customer.first_name }}")
    page.keyboard.type(", your code is ")
    with page.expect_response(preview_answer("email", "voucher.code")):
        page.get_by_test_id("merge-tags-email").select_option("{{ voucher.code }}")
    # the live preview shows it for the sample customer (Ann Example)
    frame = page.frame_locator("#preview-email iframe")
    expect(frame.locator("body")).to_contain_text("Hi Ann, your code is")
    expect(page.get_by_test_id("preview-subject")).to_have_text("A spring gift for you")
    # a misspelt tag is shown as a problem in the preview
    page.get_by_role("textbox", name="Subject", exact=True).fill("For {{ customer.nme }}")
    expect(page.get_by_test_id("preview-email")).to_contain_text(
        "Unknown merge tag {{ customer.nme }}"
    )
    page.get_by_role("textbox", name="Subject", exact=True).fill(
        "A spring gift for {{ customer.first_name }}"
    )
    expect(page.get_by_test_id("preview-subject")).to_have_text("A spring gift for Ann")
    # the SMS text, counted as it is typed
    sms = page.get_by_role("textbox", name="Text", exact=True)
    text = "Hi {{ customer.first_name }}! Your spring code: {{ voucher.code }}"
    sms.fill(text)
    counter = page.get_by_test_id("sms-counter-sms")
    # braces are GSM-7 extension characters and count twice, as apps/messaging/sms.py says
    expect(counter).to_have_text("74 characters · 1 segment (GSM-7)")
    assert str(sms_count(text)) == "74 characters · 1 segment (GSM-7)"
    sms.fill("x" * 161)
    expect(counter).to_have_text("161 characters · 2 segments (GSM-7)")
    sms.fill("Ciao 🌸 {{ voucher.code }}")
    expect(counter).to_have_text(str(sms_count("Ciao 🌸 {{ voucher.code }}")))
    expect(counter).to_contain_text("(UCS-2)")
    sms.fill(text)
    expect(page.get_by_test_id("preview-sms")).to_contain_text("Hi Ann! Your spring code:")
    page.get_by_test_id("panel-email").scroll_into_view_if_needed()
    # the email preview is rendered into a sandboxed iframe: wait until it shows the text
    expect(page.frame_locator("iframe.email-preview").first.locator("body")).to_contain_text(
        "your code is"
    )
    shoot(page, "wizard.png", page.locator("main"))
    nxt.click()

    # step 5: reminders, optional: one added and removed again (htmx rows)
    expect(page.get_by_role("heading", name="Step 5 of 7: Reminders")).to_be_visible()
    page.get_by_role("button", name="Add a reminder").click()
    expect(page.get_by_test_id("reminder")).to_have_count(1)
    page.get_by_role("button", name="Remove reminder 1").click()
    expect(page.get_by_test_id("no-reminders")).to_be_visible()
    nxt.click()

    # step 6: audience, a segment, with its size now
    expect(page.get_by_role("heading", name="Step 6 of 7: Audience")).to_be_visible()
    page.get_by_role("radio", name="A segment").check()
    page.get_by_role("combobox", name="Segment", exact=True).select_option(label="Newsletter")
    expect(page.get_by_test_id("audience-total")).to_have_text("4")
    expect(page.get_by_test_id("audience-size")).to_contain_text("3 reachable by email, 4 by SMS")
    nxt.click()

    # step 7: campaign, codes left against the audience
    expect(page.get_by_role("heading", name="Step 7 of 7: Campaign")).to_be_visible()
    page.get_by_role("combobox", name="Campaign", exact=True).select_option(
        label="Spring codes (10 codes left)"
    )
    expect(page.get_by_test_id("codes-left")).to_have_text("10")
    expect(page.get_by_test_id("pool-ok")).to_be_visible()
    nxt.click()

    # review, then launch (confirming the dialog)
    expect(page.get_by_role("heading", level=1)).to_have_text("Review “Spring welcome”")
    expect(page.get_by_test_id("review-channels")).to_contain_text("Email")
    expect(page.get_by_test_id("review-audience")).to_contain_text("Newsletter")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("launch").click()

    # then the distribution's page shows the metrics reaching the expected numbers
    expect(page).to_have_url(re.compile(r"/p/alpha/distributions/\d+/$"))
    expect(page.get_by_test_id("metric-audience")).to_have_text("4")
    expect(page.get_by_test_id("metric-published")).to_have_text("4", timeout=60_000)
    rows = page.get_by_test_id("channel-row")
    email_row = rows.filter(has_text="Email")
    sms_row = rows.filter(has_text="SMS")
    expect(email_row.locator('[data-col="sent"]')).to_have_text("3", timeout=60_000)
    expect(email_row.locator('[data-col="skipped"]')).to_have_text("1")
    expect(sms_row.locator('[data-col="sent"]')).to_have_text("4", timeout=60_000)
    expect(page.get_by_test_id("metric-sent")).to_have_text("7")
    shoot(page, "metrics.png", page.locator("main"))

    # and the database agrees: one code per customer, one message per customer and channel
    with schema_context(partner_a.schema_name):
        distribution = Distribution.objects.get()
        assert distribution.status in ("live", "completed")
        assert Recipient.objects.filter(distribution=distribution).count() == 4
        assert Voucher.objects.filter(campaign=campaign, published_at__isnull=False).count() == 4
        outbox = OutboxMessage.objects.filter(distribution_id=distribution.pk)
        assert outbox.filter(channel="email").count() == 4
        assert outbox.filter(channel="sms", status="sent").count() == 4
        sent = outbox.filter(channel="email", status="sent").first()
        assert sent.subject.startswith("A spring gift for ")
        assert "your code is" in sent.body_html


def test_create_a_segment_inline_on_the_audience_step(page, partner_a, partner_user_a, newsletter):
    # given a draft done up to the reminders step
    with schema_context(partner_a.schema_name):
        draft = Distribution.objects.create(
            name="Inline",
            step=5,
            channels=["sms"],
            content={"sms": {"text": "Code {{ voucher.code }}"}},
        )
        Customer.objects.create(name="Gus", country="DE")
        Customer.objects.create(name="Gil", country="DE")
    sign_in(page, partner_user_a.email, PASSWORD)
    page.goto(f"/p/alpha/distributions/{draft.pk}/step/6/")
    expect(page.get_by_test_id("audience-unknown")).to_be_visible()
    # when a segment is built in the inline filter builder
    page.get_by_text("Create a new segment here").click()
    page.get_by_role("textbox", name="Segment name").fill("Germany")
    with page.expect_response(lambda r: "action=seg-refresh" in (r.request.post_data or "")):
        page.get_by_label("Condition 1: field").select_option("country")
    expect(page.get_by_label("Condition 1: operator")).to_have_value("is")
    # typed key by key, as a person types (htmx wires up the re-rendered row as it settles)
    page.get_by_label("Condition 1: value").press_sequentially("DE", delay=150)
    # then the live count follows
    expect(page.get_by_test_id("segment-count-value")).to_have_text("2")
    # when it is created
    page.get_by_role("button", name="Create the segment and use it").click()
    # then it is chosen, with its size, and Next saves it
    expect(page.get_by_role("combobox", name="Segment", exact=True)).to_have_value(
        re.compile(r"\d+")
    )
    expect(page.get_by_test_id("audience-total")).to_have_text("2")
    page.get_by_test_id("wizard-next").click()
    expect(page.get_by_role("heading", name="Step 7 of 7: Campaign")).to_be_visible()
    with schema_context(partner_a.schema_name):
        draft.refresh_from_db()
        assert draft.segment.name == "Germany"
