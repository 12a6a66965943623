"""The seven-step distribution wizard: each step's validation and bad input (duplicate name, no
channel, unknown merge tag, too many reminders, a reminder after 0 days, a forged audience),
what the pages show (sandbox badges, SMS counter, preview, audience size, pool warning), the
server-side gating of steps, a launched distribution never being edited, and Launch pressed
twice launching once."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from apps.customers.models import Customer, Segment
from apps.distributions.models import Activity, Distribution, DistributionCustomer
from apps.messaging.models import ChannelAccount
from tests.factories import (
    CampaignFactory,
    CustomerFactory,
    DistributionFactory,
    SegmentFactory,
    VoucherFactory,
)

BASE = "/p/alpha/distributions/"

EMAIL = {
    "email-subject": "A gift for you, {{ customer.first_name }}",
    "email-html": "<p>Hi {{ customer.first_name }}, your code is <b>{{ voucher.code }}</b>.</p>",
}
SMS = {"sms-text": "Hi {{ customer.first_name }}! Code {{ voucher.code }}"}
CONTENT = {
    "email": {"subject": "Hi {{ customer.first_name }}", "html": "<p>{{ voucher.code }}</p>"},
    "sms": {"text": "Code {{ voucher.code }}"},
}


@pytest.fixture
def staff(client, partner_user_a):
    client.force_login(partner_user_a)
    return client


def step_url(d: Distribution, step: int) -> str:
    return f"{BASE}{d.pk}/step/{step}/"


def in_alpha(partner, fn, *args, **kwargs):
    with schema_context(partner.schema_name):
        return fn(*args, **kwargs)


def fresh(partner, d: Distribution) -> Distribution:
    return in_alpha(partner, Distribution.objects.get, pk=d.pk)


def draft(partner, **fields) -> Distribution:
    """A draft saved up to `step` (default: the first six steps of a manual email + SMS
    distribution to a segment of three customers)."""

    def make():
        values = {
            "name": "Spring welcome",
            "kind": "manual",
            "step": 6,
            "channels": ["email", "sms"],
            "content": CONTENT,
        }
        values.update(fields)
        if "segment" not in values and values.get("step", 0) >= 6:
            values.setdefault("audience", "segment")
            values["segment"] = segment_with(3)
        return DistributionFactory(**values)

    return in_alpha(partner, make)


def segment_with(n: int, *, name: str = "Regulars") -> Segment:
    customers = [
        CustomerFactory(
            name=f"Customer {i}",
            email=f"c{i}-{name.lower()}@example.test",
            phone=f"+1415555{i:04d}",
            email_consent=i != 0,  # the first one never agreed to email
            sms_consent=True,
        )
        for i in range(n)
    ]
    return SegmentFactory(name=name, members=customers)


def campaign_with(codes: int, **fields):
    campaign = CampaignFactory(**fields)
    for _ in range(codes):
        VoucherFactory(campaign=campaign)
    return campaign


def activity_kinds(partner, d: Distribution) -> list[str]:
    return in_alpha(
        partner,
        lambda: list(Activity.objects.filter(distribution_id=d.pk).values_list("kind", flat=True)),
    )


def toasts(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def body(response) -> str:
    return response.content.decode()


# --- Step 1 and 2 --------------------------------------------------------------------------


def test_step_one_creates_the_draft_when_the_type_is_posted(staff, partner_a, partner_user_a):
    # given
    assert staff.get(f"{BASE}new/").status_code == 200
    # when
    response = staff.post(f"{BASE}new/", {"kind": "automatic", "action": "next"})
    # then one draft exists, at step 1, and the browser goes to step 2
    d = in_alpha(partner_a, Distribution.objects.get)
    assert (d.kind, d.status, d.step, d.created_by_id) == (
        "automatic",
        "draft",
        1,
        partner_user_a.pk,
    )
    assert response.status_code == 302
    assert response["Location"] == step_url(d, 2)


def test_step_one_without_a_type_is_an_error_and_creates_nothing(staff, partner_a):
    # when
    response = staff.post(f"{BASE}new/", {"kind": "weekly", "action": "next"})
    # then
    assert response.status_code == 400
    assert "Select a valid choice" in body(response) or "Choose manual" in body(response)
    assert in_alpha(partner_a, Distribution.objects.count) == 0


def test_two_new_drafts_get_distinct_placeholder_names(staff, partner_a):
    # when two drafts are started before either is named
    staff.post(f"{BASE}new/", {"kind": "manual"})
    staff.post(f"{BASE}new/", {"kind": "manual"})
    # then both exist (names are unique) and neither shows its placeholder on step 2
    drafts = in_alpha(partner_a, lambda: list(Distribution.objects.order_by("id")))
    assert len({d.name.lower() for d in drafts}) == 2
    page = body(staff.get(step_url(drafts[1], 2)))
    assert f'value="{drafts[1].name}"' not in page


def test_name_is_required(staff, partner_a):
    # given
    d = draft(partner_a, name="Untitled distribution", step=1)
    # when
    response = staff.post(step_url(d, 2), {"name": "   ", "action": "next"})
    # then
    assert response.status_code == 400
    assert "Give the distribution a name." in body(response)
    assert fresh(partner_a, d).step == 1


def test_duplicate_name_is_refused_ignoring_case_and_names_the_clash(staff, partner_a):
    # given a distribution named "Spring Welcome" and a new draft
    draft(partner_a, name="Spring Welcome", step=2)
    d = draft(partner_a, name="Untitled distribution", step=1)
    # when the draft takes the same name in lower case
    response = staff.post(step_url(d, 2), {"name": "spring welcome", "action": "next"})
    # then the form names the existing distribution, the input points at the error
    html = body(response)
    assert response.status_code == 400
    assert "There is already a distribution named “Spring Welcome”" in html
    assert 'aria-describedby="id_name_helptext id_name_error"' in html
    assert 'aria-invalid="true"' in html
    assert fresh(partner_a, d).name == "Untitled distribution"


def test_naming_saves_and_moves_to_channels(staff, partner_a):
    # given
    d = draft(partner_a, name="Untitled distribution", step=1)
    # when
    response = staff.post(step_url(d, 2), {"name": "  Summer   promo ", "action": "next"})
    # then
    assert response["Location"] == step_url(d, 3)
    d = fresh(partner_a, d)
    assert (d.name, d.step) == ("Summer promo", 2)


# --- Step 3: channels ----------------------------------------------------------------------


def test_channel_plus_and_cross_save_at_once(staff, partner_a):
    # given
    d = draft(partner_a, step=2, channels=[], content={})
    # when SMS then email are added (htmx swaps the cards), then SMS removed
    added = staff.post(step_url(d, 3), {"action": "add-sms"}, HTTP_HX_REQUEST="true")
    staff.post(step_url(d, 3), {"action": "add-email"}, HTTP_HX_REQUEST="true")
    # then the cards fragment comes back with SMS active, and the draft keeps channel order
    assert added.status_code == 200
    assert 'id="channel-cards"' in body(added) and "<html" not in body(added)
    assert fresh(partner_a, d).channels == ["email", "sms"]
    # when
    staff.post(step_url(d, 3), {"action": "remove-sms"})
    # then
    assert fresh(partner_a, d).channels == ["email"]


def test_next_without_a_channel_is_refused(staff, partner_a):
    # given
    d = draft(partner_a, step=2, channels=[], content={})
    # when
    response = staff.post(step_url(d, 3), {"action": "next"})
    # then
    assert response.status_code == 400
    assert "Add at least one channel" in body(response)
    assert fresh(partner_a, d).step == 2


def test_a_channel_without_an_account_shows_sandbox(staff, partner_a):
    # given only SMS has a connected account
    in_alpha(partner_a, ChannelAccount.objects.create, channel="sms", config={"from_number": "+1"})
    d = draft(partner_a, step=2, channels=["email"], content={})
    # when
    html = body(staff.get(step_url(d, 3)))
    # then
    cards = {
        channel: html.split(f'data-testid="channel-{channel}"')[1].split("</section>")[0]
        for channel in ("email", "sms", "mailchimp", "intercom")
    }
    assert ">sandbox<" in cards["email"] and ">sandbox<" in cards["mailchimp"]
    assert ">sandbox<" not in cards["sms"]
    assert "is-active" in html.split('data-testid="channel-email"')[0].rsplit("<section", 1)[1]
    assert 'aria-label="Remove Email"' in cards["email"]
    assert 'aria-label="Add SMS"' in cards["sms"]


def test_removing_a_channel_drops_its_message(staff, partner_a):
    # given email and SMS with their messages
    d = draft(partner_a, step=4)
    # when SMS is removed
    staff.post(step_url(d, 3), {"action": "remove-sms"})
    # then
    assert set(fresh(partner_a, d).content) == {"email"}


# --- Step 4: messages ----------------------------------------------------------------------


def test_messages_are_saved_for_every_active_channel(staff, partner_a):
    # given
    d = draft(partner_a, step=3, content={})
    # when
    response = staff.post(step_url(d, 4), {**EMAIL, **SMS, "action": "next"})
    # then
    assert response["Location"] == step_url(d, 5)
    d = fresh(partner_a, d)
    assert d.step == 4
    assert d.content["email"]["subject"] == EMAIL["email-subject"]
    assert "{{ voucher.code }}" in d.content["email"]["html"]
    assert d.content["sms"]["text"] == SMS["sms-text"]


def test_unknown_merge_tag_is_an_error_naming_it(staff, partner_a):
    # given
    d = draft(partner_a, step=3, content={})
    # when the subject misspells a merge tag
    data = {**EMAIL, **SMS, "email-subject": "Hi {{ customer.nme }}", "action": "next"}
    response = staff.post(step_url(d, 4), data)
    # then the error names the tag and suggests the right one; nothing is saved
    html = body(response)
    assert response.status_code == 400
    assert "Unknown merge tag {{ customer.nme }}" in html
    assert "Did you mean {{ customer.name }}?" in html
    assert 'id="id_email-subject_error"' in html
    d = fresh(partner_a, d)
    assert (d.step, d.content) == (3, {})


def test_unknown_merge_tag_in_the_sms_text_is_an_error_too(staff, partner_a):
    # given
    d = draft(partner_a, step=3, content={})
    # when
    data = {**EMAIL, "sms-text": "Code {{ vouchr.code }}", "action": "next"}
    response = staff.post(step_url(d, 4), data)
    # then
    assert response.status_code == 400
    assert "Unknown merge tag {{ vouchr.code }}" in body(response)


def test_email_html_is_sanitized_and_editor_escapes_in_tags_are_undone(staff, partner_a):
    # given
    d = draft(partner_a, step=3, channels=["email"], content={})
    html = (
        '<p onclick="steal()">Hi<script>alert(1)</script> '
        "{{ voucher.expiration_date|date:&quot;j F Y&quot; }}</p>"
    )
    # when the HTML comes as a rich-text editor posts it
    response = staff.post(
        step_url(d, 4), {"email-subject": "Hello", "email-html": html, "action": "next"}
    )
    # then
    assert response.status_code == 302
    saved = fresh(partner_a, d).content["email"]["html"]
    assert "script" not in saved and "onclick" not in saved
    assert '{{ voucher.expiration_date|date:"j F Y" }}' in saved


def test_an_empty_email_body_is_refused(staff, partner_a):
    # given
    d = draft(partner_a, step=3, channels=["email"], content={})
    # when the editor posts an empty paragraph
    response = staff.post(
        step_url(d, 4), {"email-subject": "Hi", "email-html": "<p><br></p>", "action": "next"}
    )
    # then
    assert response.status_code == 400
    assert "Write the message." in body(response)


def test_back_saves_the_step_and_goes_to_the_previous_one(staff, partner_a):
    # given
    d = draft(partner_a, step=3, content={})
    # when Back is pressed with a valid message
    response = staff.post(step_url(d, 4), {**EMAIL, **SMS, "action": "back"})
    # then it is saved and the previous step opens
    assert response["Location"] == step_url(d, 3)
    assert fresh(partner_a, d).content["sms"]["text"] == SMS["sms-text"]
    # when Back is pressed with a mistake
    bad = {**EMAIL, **SMS, "sms-text": "{{ customer.nme }}", "action": "back"}
    response = staff.post(step_url(d, 4), bad)
    # then the mistake is shown rather than lost, and the saved message is kept
    assert response.status_code == 400
    assert fresh(partner_a, d).content["sms"]["text"] == SMS["sms-text"]


def test_sms_counter_is_shown_by_the_server(staff, partner_a):
    # given a 161-character GSM text and a text with an emoji
    d = draft(partner_a, step=4, content={**CONTENT, "sms": {"text": "x" * 161}})
    # when
    html = body(staff.get(step_url(d, 4)))
    # then
    assert "161 characters · 2 segments (GSM-7)" in html
    # and the browser counter gets apps.messaging.sms's own tables
    assert 'data-gsm-extended="' in html and "€" in html.split('data-gsm-extended="')[1][:40]
    # when the text needs UCS-2
    in_alpha(
        partner_a,
        Distribution.objects.filter(pk=d.pk).update,
        content={**CONTENT, "sms": {"text": "Code 🎁 {{ voucher.code }}"}},
    )
    # then (the emoji counts twice, as outside the BMP)
    assert "26 characters · 1 segment (UCS-2)" in body(staff.get(step_url(d, 4)))


def test_sms_text_line_breaks_are_stored_as_newlines(staff, partner_a):
    # given
    d = draft(partner_a, step=3, channels=["sms"], content={})
    # when the browser posts CRLF
    staff.post(step_url(d, 4), {"sms-text": "Hi\r\n{{ voucher.code }}", "action": "next"})
    # then
    assert fresh(partner_a, d).content["sms"]["text"] == "Hi\n{{ voucher.code }}"


def test_preview_renders_the_email_for_a_sample_customer(staff, partner_a):
    # given
    d = draft(partner_a, step=3, content={})
    # when
    response = staff.post(
        f"{BASE}{d.pk}/preview/",
        {
            "prefix": "email",
            "email-subject": "For {{ customer.first_name }}",
            "email-html": "<p>Code {{ voucher.code }}</p><script>alert(1)</script>",
        },
    )
    # then the sample customer Ann is in the subject, the HTML is sanitized in a sandboxed frame
    html = body(response)
    assert response.status_code == 200
    assert "For Ann" in html
    assert "sandbox srcdoc=" in html
    assert "alert(1)" not in html


def test_preview_lists_the_problems_of_a_bad_template(staff, partner_a):
    # given
    d = draft(partner_a, step=3, content={})
    # when
    response = staff.post(
        f"{BASE}{d.pk}/preview/", {"prefix": "sms", "sms-text": "Hi {{ customer.nme }}"}
    )
    # then
    assert "Unknown merge tag {{ customer.nme }}" in body(response)


def test_preview_refuses_an_unknown_channel(staff, partner_a):
    # given
    d = draft(partner_a, step=3, content={})
    # when
    response = staff.post(f"{BASE}{d.pk}/preview/", {"prefix": "fax"})
    # then
    assert response.status_code == 400


def test_mailchimp_merge_field_defaults_to_the_account_and_is_validated(staff, partner_a):
    # given a MailChimp account whose code field is PROMO
    in_alpha(
        partner_a,
        ChannelAccount.objects.create,
        channel="mailchimp",
        config={"merge_field": "PROMO"},
    )
    d = draft(partner_a, step=3, channels=["mailchimp"], content={})
    # then the field starts with the account's merge field
    assert 'value="PROMO"' in body(staff.get(step_url(d, 4)))
    # when a field name MailChimp would refuse is posted
    response = staff.post(step_url(d, 4), {"mailchimp-merge_field": "MY CODE!", "action": "next"})
    # then
    assert response.status_code == 400
    assert "up to 10 capital letters" in body(response)
    # when a valid one is posted in lower case
    staff.post(step_url(d, 4), {"mailchimp-merge_field": "coupon", "action": "next"})
    # then
    assert fresh(partner_a, d).content == {"mailchimp": {"merge_field": "COUPON"}}


def test_intercom_needs_a_text_or_an_attribute(staff, partner_a):
    # given
    d = draft(partner_a, step=3, channels=["intercom"], content={})
    # when both are empty
    response = staff.post(
        step_url(d, 4), {"intercom-text": "", "intercom-attribute": "", "action": "next"}
    )
    # then
    assert response.status_code == 400
    assert "Give a message text, an attribute, or both." in body(response)


# --- Step 5: reminders ---------------------------------------------------------------------


def reminder_post(*rows, **extra):
    data = {"reminder_count": str(len(rows)), **extra}
    for i, (days, text) in enumerate(rows):
        data[f"r{i}-days"] = str(days)
        data[f"r{i}-email-subject"] = "Still yours"
        data[f"r{i}-email-html"] = f"<p>{text}</p>"
        data[f"r{i}-sms-text"] = text
    return data


def test_reminders_are_saved_in_order_of_their_delay(staff, partner_a):
    # given
    d = draft(partner_a, step=4)
    # when two reminders are posted, the later one first
    data = reminder_post((7, "Last call {{ voucher.code }}"), (3, "Reminder {{ voucher.code }}"))
    response = staff.post(step_url(d, 5), {**data, "action": "next"})
    # then
    assert response["Location"] == step_url(d, 6)
    d = fresh(partner_a, d)
    assert [r["days"] for r in d.reminders] == [3, 7]
    assert d.reminders[0]["content"]["sms"]["text"] == "Reminder {{ voucher.code }}"
    assert set(d.reminders[0]["content"]) == {"email", "sms"}


def test_no_reminders_is_fine(staff, partner_a):
    # given
    d = draft(partner_a, step=4)
    # when
    response = staff.post(step_url(d, 5), {"reminder_count": "0", "action": "next"})
    # then
    assert response["Location"] == step_url(d, 6)
    d = fresh(partner_a, d)
    assert (d.step, d.reminders) == (5, [])


def test_more_than_three_reminders_are_refused(staff, partner_a):
    # given
    d = draft(partner_a, step=4)
    # when four reminders are posted (a forged form: the page offers no fourth)
    data = reminder_post(*[(days, "Hi {{ voucher.code }}") for days in (1, 2, 3, 4)])
    response = staff.post(step_url(d, 5), {**data, "action": "next"})
    # then
    assert response.status_code == 400
    assert "at most 3 reminders" in body(response)
    assert fresh(partner_a, d).reminders == []


def test_adding_a_fourth_reminder_is_refused_and_three_hide_the_button(staff, partner_a):
    # given three reminders on the page
    d = draft(partner_a, step=4)
    data = reminder_post(*[(days, "Hi") for days in (1, 2, 3)])
    # when Add is pressed
    response = staff.post(step_url(d, 5), {**data, "action": "add"}, HTTP_HX_REQUEST="true")
    # then
    html = body(response)
    assert "A distribution has at most 3 reminders." in html
    assert html.count('data-testid="reminder"') == 3
    assert 'value="add"' not in html


def test_add_and_remove_rows_keep_what_was_typed_without_saving(staff, partner_a):
    # given one reminder typed
    d = draft(partner_a, step=4)
    data = reminder_post((2, "First"), (5, "Second"))
    # when the first is removed
    response = staff.post(step_url(d, 5), {**data, "action": "remove-0"}, HTTP_HX_REQUEST="true")
    # then the second remains, renumbered, with its text; nothing saved yet
    html = body(response)
    assert html.count('data-testid="reminder"') == 1
    assert 'name="r0-days"' in html and 'value="5"' in html and "Second" in html
    assert fresh(partner_a, d).reminders == []


@pytest.mark.parametrize("days", ["0", "-2", "soon"])
def test_reminder_days_below_one_are_refused(staff, partner_a, days):
    # given
    d = draft(partner_a, step=4)
    data = reminder_post((1, "Hi"))
    data["r0-days"] = days
    # when
    response = staff.post(step_url(d, 5), {**data, "action": "next"})
    # then
    assert response.status_code == 400
    html = body(response)
    assert "at least 1 day after the first message" in html or "whole number of days" in html
    assert fresh(partner_a, d).reminders == []


def test_a_reminder_message_is_validated_like_the_first(staff, partner_a):
    # given
    d = draft(partner_a, step=4)
    data = reminder_post((2, "Hi {{ customer.nme }}"))
    # when
    response = staff.post(step_url(d, 5), {**data, "action": "next"})
    # then
    assert response.status_code == 400
    assert "Unknown merge tag {{ customer.nme }}" in body(response)


# --- Step 6: audience ----------------------------------------------------------------------


def test_audience_size_of_a_segment_is_shown_with_reachable_counts(staff, partner_a):
    # given a segment of three customers, two of whom agreed to email
    d = draft(partner_a, step=5, audience="", segment=None)
    segment = in_alpha(partner_a, segment_with, 3)
    # when the segment is chosen (the select asks for the size)
    response = staff.get(
        f"{BASE}{d.pk}/audience-count/", {"audience": "segment", "segment": segment.pk}
    )
    # then
    html = body(response)
    assert '<div class="stat-value" data-testid="audience-total">3</div>' in html
    assert "2 reachable by email, 3 by SMS" in html


def test_audience_segment_is_saved(staff, partner_a):
    # given
    d = draft(partner_a, step=5, audience="", segment=None)
    segment = in_alpha(partner_a, segment_with, 2)
    # when
    response = staff.post(
        step_url(d, 6), {"audience": "segment", "segment": segment.pk, "action": "next"}
    )
    # then
    assert response["Location"] == step_url(d, 7)
    d = fresh(partner_a, d)
    assert (d.audience, d.segment_id, d.step) == ("segment", segment.pk, 6)


def test_a_segment_audience_needs_a_segment(staff, partner_a):
    # given
    d = draft(partner_a, step=5, audience="", segment=None)
    # when
    response = staff.post(step_url(d, 6), {"audience": "segment", "action": "next"})
    # then
    assert response.status_code == 400
    assert "Choose a segment." in body(response)


def test_a_manual_distribution_cannot_fire_on_an_event(staff, partner_a):
    # given
    d = draft(partner_a, step=5, audience="", segment=None)
    # when a forged form asks for an event audience
    response = staff.post(
        step_url(d, 6), {"audience": "event", "trigger_event": "order.paid", "action": "next"}
    )
    # then
    assert response.status_code == 400
    assert fresh(partner_a, d).audience == ""


def test_an_automatic_distribution_fires_on_an_event(staff, partner_a):
    # given
    d = draft(partner_a, kind="automatic", step=5, audience="", segment=None)
    # then the page offers events, and the size says it fires per event
    refresh = staff.post(
        step_url(d, 6), {"audience": "event", "action": "refresh"}, HTTP_HX_REQUEST="true"
    )
    assert "Fires per event" in body(refresh) and "Order paid" in body(refresh)
    # when
    staff.post(
        step_url(d, 6), {"audience": "event", "trigger_event": "order.paid", "action": "next"}
    )
    # then
    d = fresh(partner_a, d)
    assert (d.audience, d.trigger_event, d.segment_id) == ("event", "order.paid", None)


def test_an_unknown_event_is_refused(staff, partner_a):
    # given
    d = draft(partner_a, kind="automatic", step=5, audience="", segment=None)
    # when
    response = staff.post(
        step_url(d, 6), {"audience": "event", "trigger_event": "order.stolen", "action": "next"}
    )
    # then
    assert response.status_code == 400
    assert fresh(partner_a, d).trigger_event == ""


def test_customers_are_searched_picked_and_removed(staff, partner_a):
    # given
    d = draft(partner_a, step=5, audience="", segment=None)

    def people():
        return (
            Customer.objects.create(name="Ann Buyer", email="ann@example.test"),
            Customer.objects.create(name="Bob Buyer", email="bob@example.test"),
            Customer.objects.create(name="Zed", email="zed@example.test"),
        )

    ann, bob, _ = in_alpha(partner_a, people)
    # when a search is typed
    found = staff.post(
        step_url(d, 6),
        {"audience": "customers", "q": "buyer", "action": "search"},
        HTTP_HX_REQUEST="true",
    )
    # then the two buyers are offered
    assert "Ann Buyer" in body(found) and "Bob Buyer" in body(found) and "Zed" not in body(found)
    # when both are added and Bob removed again
    for action in (f"pick-{ann.pk}", f"pick-{bob.pk}", f"unpick-{bob.pk}"):
        staff.post(step_url(d, 6), {"audience": "customers", "q": "buyer", "action": action})
    # then Ann is chosen, and the audience is one customer
    chosen = in_alpha(
        partner_a, lambda: list(DistributionCustomer.objects.values_list("customer_id", flat=True))
    )
    assert chosen == [ann.pk]
    page = body(staff.post(step_url(d, 6), {"audience": "customers", "action": "refresh"}))
    assert '<span data-testid="chosen-count">1</span>' in page
    # when Next is pressed
    staff.post(step_url(d, 6), {"audience": "customers", "action": "next"})
    # then
    assert fresh(partner_a, d).audience == "customers"


def builder_post(**extra):
    return {
        "audience": "segment",
        "new_segment_name": "Germans",
        "match": "all",
        "field": "country",
        "key": "",
        "op": "is",
        "value": "DE",
        "days": "",
        **extra,
    }


def test_a_segment_is_built_inline_counted_and_chosen(staff, partner_a):
    # given three customers, two in Germany
    d = draft(partner_a, step=5, audience="", segment=None)

    def people():
        for name, country in (("Dora", "DE"), ("Dan", "DE"), ("Fay", "FR")):
            Customer.objects.create(name=name, country=country)

    in_alpha(partner_a, people)
    # when the inline builder counts its condition
    counted = staff.post(step_url(d, 6), builder_post(action="seg-count"), HTTP_HX_REQUEST="true")
    # then
    assert '<strong data-testid="segment-count-value">2</strong>' in body(counted)
    # when the segment is created
    created = staff.post(step_url(d, 6), builder_post(action="seg-create"), HTTP_HX_REQUEST="true")
    # then it exists as an active segment, is chosen, and the size counts its filter already
    segment = in_alpha(partner_a, Segment.objects.get, name="Germans")
    assert (segment.kind, segment.filter["conditions"][0]["value"]) == ("active", "DE")
    assert created["HX-Retarget"] == "#audience-section"
    html = body(created)
    assert f'<option value="{segment.pk}" selected>Germans</option>' in html
    assert '<div class="stat-value" data-testid="audience-total">2</div>' in html
    assert fresh(partner_a, d).segment_id is None  # chosen, saved with Next


def test_an_inline_segment_with_a_bad_condition_or_name_is_not_created(staff, partner_a):
    # given an existing segment named Germans
    d = draft(partner_a, step=5, audience="", segment=None)
    in_alpha(partner_a, Segment.objects.create, name="Germans", kind="static")
    # when the same name is used
    taken = staff.post(step_url(d, 6), builder_post(action="seg-create"), HTTP_HX_REQUEST="true")
    # then
    assert "A segment named “Germans” already exists" in body(taken)
    # when a number field gets text
    bad = builder_post(
        action="seg-create", new_segment_name="Big spenders", field="total_spent", op="gt"
    )
    bad["value"] = "lots"
    response = staff.post(step_url(d, 6), bad, HTTP_HX_REQUEST="true")
    # then the condition's problem is shown under it, and nothing is created
    assert 'id="seg-condition-0-error"' in body(response)
    assert in_alpha(partner_a, Segment.objects.count) == 1


def test_adding_a_condition_to_the_inline_builder_saves_nothing(staff, partner_a):
    # given
    d = draft(partner_a, step=5, audience="", segment=None)
    # when
    response = staff.post(step_url(d, 6), builder_post(action="seg-add"), HTTP_HX_REQUEST="true")
    # then two rows, the first as typed
    html = body(response)
    assert html.count('data-testid="segment-condition"') == 2
    assert 'value="DE"' in html
    assert in_alpha(partner_a, Segment.objects.count) == 0


def test_chosen_customers_audience_needs_someone(staff, partner_a):
    # given
    d = draft(partner_a, step=5, audience="", segment=None)
    # when
    response = staff.post(step_url(d, 6), {"audience": "customers", "action": "next"})
    # then
    assert response.status_code == 400
    assert "Pick at least one customer" in body(response)


# --- Step 7: campaign ----------------------------------------------------------------------


def test_pool_warning_when_codes_do_not_cover_the_audience(staff, partner_a):
    # given an audience of three and a campaign with two codes left
    d = draft(partner_a, step=6)
    campaign = in_alpha(partner_a, campaign_with, 2, name="Small pool")
    # when the campaign is chosen
    response = staff.get(f"{BASE}{d.pk}/pool/", {"campaign": campaign.pk})
    # then
    html = body(response)
    assert '<div class="stat-value" data-testid="codes-left">2</div>' in html
    assert "The pool will not cover the audience" in html and "1 short" in html


def test_no_warning_when_the_pool_covers_the_audience(staff, partner_a):
    # given
    d = draft(partner_a, step=6)
    campaign = in_alpha(partner_a, campaign_with, 5, name="Big pool")
    # when
    html = body(staff.get(f"{BASE}{d.pk}/pool/", {"campaign": campaign.pk}))
    # then
    assert "pool-warning" not in html and "Enough codes for everyone" in html


def test_campaign_is_saved_and_next_goes_to_review(staff, partner_a):
    # given
    d = draft(partner_a, step=6)
    campaign = in_alpha(partner_a, campaign_with, 5, name="Spring codes")
    # then the choice shows the codes left
    assert "Spring codes (5 codes left)" in body(staff.get(step_url(d, 7)))
    # when
    response = staff.post(step_url(d, 7), {"campaign": campaign.pk, "action": "next"})
    # then
    assert response["Location"] == f"{BASE}{d.pk}/review/"
    assert fresh(partner_a, d).campaign_id == campaign.pk


def test_a_campaign_without_codes_or_inactive_cannot_be_chosen(staff, partner_a):
    # given
    d = draft(partner_a, step=6)
    empty = in_alpha(partner_a, campaign_with, 0, name="Empty")
    inactive = in_alpha(partner_a, campaign_with, 3, name="Off", active=False)
    for campaign in (empty, inactive):
        # when
        response = staff.post(step_url(d, 7), {"campaign": campaign.pk, "action": "next"})
        # then
        assert response.status_code == 400
        assert "cannot publish codes now" in body(response)
    assert fresh(partner_a, d).campaign_id is None


# --- Gating, review, launch ----------------------------------------------------------------


def test_step_seven_cannot_be_posted_while_step_three_is_empty(staff, partner_a):
    # given a draft named but without channels, and a campaign
    d = draft(partner_a, step=2, channels=[], content={})
    campaign = in_alpha(partner_a, campaign_with, 3)
    # when step 7 is posted directly
    response = staff.post(step_url(d, 7), {"campaign": campaign.pk, "action": "next"})
    # then it goes to step 3 with a message, and nothing is saved
    assert response.status_code == 302
    assert response["Location"] == step_url(d, 3)
    assert fresh(partner_a, d).campaign_id is None
    page = staff.get(response["Location"])
    assert any("Finish step 3 (Channels) before step 7" in t for t in toasts(page))


def test_a_step_that_became_incomplete_blocks_the_later_ones(staff, partner_a):
    # given a complete draft whose SMS message is later emptied
    campaign = in_alpha(partner_a, campaign_with, 5)
    d = draft(partner_a, step=7, campaign=campaign, content={"email": CONTENT["email"]})
    # when step 6 is opened
    response = staff.get(step_url(d, 6))
    # then step 4 needs the SMS message first
    assert response["Location"] == step_url(d, 4)


def test_opening_a_step_ahead_of_the_draft_goes_back_to_the_first_step_to_do(staff, partner_a):
    # given
    d = draft(partner_a, step=1, name="Untitled distribution")
    # when
    response = staff.get(step_url(d, 5))
    # then
    assert response["Location"] == step_url(d, 2)


def test_there_is_no_step_eight(staff, partner_a):
    # given
    d = draft(partner_a)
    # then
    assert staff.get(step_url(d, 8)).status_code == 404


def test_step_indicator_links_completed_steps_and_marks_the_current_one(staff, partner_a):
    # given a draft done up to step 3
    d = draft(partner_a, step=3, content={})
    # when
    html = body(staff.get(step_url(d, 4)))
    # then
    nav = html.split('data-testid="wizard-steps"')[1].split("</nav>")[0]
    for done in (1, 2, 3):
        assert f'href="{step_url(d, done)}"' in nav
    assert f'href="{step_url(d, 5)}"' not in nav
    assert 'aria-current="step"' in nav and 'Message<span class="sr-only"> (current step)' in nav


def test_review_summarizes_every_step_with_edit_links(staff, partner_a):
    # given a complete draft
    campaign = in_alpha(partner_a, campaign_with, 2, name="Spring codes")
    d = draft(partner_a, step=7, campaign=campaign, reminders=[])
    # when
    response = staff.get(f"{BASE}{d.pk}/review/")
    # then
    html = body(response)
    assert response.status_code == 200
    for step in range(1, 8):
        assert f'href="{step_url(d, step)}?from=review"' in html
    assert "Spring welcome" in html and "Regulars" in html and "Spring codes" in html
    assert 'data-testid="review-problems"' not in html
    # an audience of three with two codes: the warning is repeated here
    assert 'data-testid="pool-warning"' in html
    assert ">Launch</button>" in html and "data-once" in html


def test_editing_from_the_review_returns_to_it(staff, partner_a):
    # given
    campaign = in_alpha(partner_a, campaign_with, 5)
    d = draft(partner_a, step=7, campaign=campaign)
    # when the name is edited from the review page
    response = staff.post(step_url(d, 2), {"name": "Renamed", "return": "review"})
    # then
    assert response["Location"] == f"{BASE}{d.pk}/review/"


def test_review_of_an_incomplete_draft_lists_what_is_missing_and_cannot_launch(staff, partner_a):
    # given
    d = draft(partner_a, step=6)
    # when
    html = body(staff.get(f"{BASE}{d.pk}/review/"))
    # then
    assert 'data-testid="review-problems"' in html
    assert "Choose the campaign whose codes are sent." in html
    assert 'data-testid="launch" disabled' in html
    # and a forged launch is refused
    response = staff.post(f"{BASE}{d.pk}/launch/")
    assert response["Location"] == step_url(d, 7)
    assert fresh(partner_a, d).status == "draft"


def test_launching_twice_launches_once(staff, partner_a, django_capture_on_commit_callbacks):
    # given a complete manual draft
    campaign = in_alpha(partner_a, campaign_with, 5)
    d = draft(partner_a, step=7, campaign=campaign)
    # when Launch is pressed twice
    with django_capture_on_commit_callbacks() as callbacks:
        first = staff.post(f"{BASE}{d.pk}/launch/")
        second = staff.post(f"{BASE}{d.pk}/launch/")
    # then both land on the distribution's page, it is live, and it was launched once
    assert first["Location"] == second["Location"] == f"{BASE}{d.pk}/"
    launched = fresh(partner_a, d)
    assert (launched.status, launched.audience_size) == ("live", 3)
    kinds = in_alpha(
        partner_a,
        lambda: list(Activity.objects.filter(distribution_id=d.pk).values_list("kind", flat=True)),
    )
    assert kinds.count("launched") == 1
    assert len(callbacks) == 1  # the fan-out, enqueued once


def test_a_stale_second_launch_is_still_one_launch(staff, partner_a):
    # given a complete draft launched once through the service
    from apps.distributions.services import distribution_launch

    campaign = in_alpha(partner_a, campaign_with, 5)
    d = draft(partner_a, step=7, campaign=campaign)
    stale = in_alpha(partner_a, Distribution.objects.get, pk=d.pk)
    in_alpha(partner_a, distribution_launch, distribution=d, actor=None)
    # when the stale copy (read before the launch, as a second click would) is launched
    in_alpha(partner_a, distribution_launch, distribution=stale, actor=None)
    # then
    kinds = in_alpha(
        partner_a,
        lambda: list(Activity.objects.filter(distribution_id=d.pk).values_list("kind", flat=True)),
    )
    assert kinds.count("launched") == 1


def test_an_automatic_draft_is_activated(staff, partner_a):
    # given
    campaign = in_alpha(partner_a, campaign_with, 5)
    d = draft(
        partner_a,
        kind="automatic",
        step=7,
        campaign=campaign,
        audience="event",
        trigger_event="order.paid",
        segment=None,
    )
    # then the review offers Activate
    assert ">Activate</button>" in body(staff.get(f"{BASE}{d.pk}/review/"))
    # when
    response = staff.post(f"{BASE}{d.pk}/launch/")
    # then
    assert response["Location"] == f"{BASE}{d.pk}/"
    assert fresh(partner_a, d).status == "live"


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("get", "step/1/", {}),
        ("post", "step/2/", {"name": "Hijack"}),
        ("post", "step/3/", {"action": "remove-email"}),
        ("get", "step/7/", {}),
        ("get", "review/", {}),
        ("post", "preview/", {"prefix": "email"}),
        ("get", "audience-count/", {}),
        ("get", "pool/", {}),
        ("post", "launch/", {}),
    ],
)
def test_a_launched_distribution_cannot_be_edited(staff, partner_a, method, path, data):
    # given a live distribution
    campaign = in_alpha(partner_a, campaign_with, 5)
    d = draft(partner_a, step=7, campaign=campaign, status="live")
    # when any wizard URL is used
    response = getattr(staff, method)(f"{BASE}{d.pk}/{path}", data)
    # then it goes to the distribution's page and nothing changed
    assert response.status_code == 302
    assert response["Location"] == f"{BASE}{d.pk}/"
    after = fresh(partner_a, d)
    assert (after.name, after.channels, after.status) == (
        "Spring welcome",
        ["email", "sms"],
        "live",
    )


def test_a_fragment_of_a_launched_distribution_sends_the_browser_to_its_page(staff, partner_a):
    # given a live distribution whose step 4 is still open in a tab
    d = draft(partner_a, step=7, status="live")
    # when the preview (an htmx fragment) asks for a refresh
    response = staff.post(f"{BASE}{d.pk}/preview/", {"prefix": "email"}, HTTP_HX_REQUEST="true")
    # then htmx is told to go to the distribution's page instead of swapping it in
    assert response.status_code == 204
    assert response["HX-Redirect"] == f"{BASE}{d.pk}/"


def test_a_step_posted_from_a_stale_tab_after_launch_changes_nothing(partner_a):
    # given a draft object read before its launch
    from apps.distributions.wizard import drafts

    d = draft(partner_a, step=2)
    in_alpha(partner_a, Distribution.objects.filter(pk=d.pk).update, status="live")
    # when the stale object is saved
    with pytest.raises(drafts.DraftError) as error:
        in_alpha(partner_a, drafts.draft_set_name, distribution=d, name="Changed")
    # then
    assert error.value.key == "not_a_draft"
    assert fresh(partner_a, d).name == "Spring welcome"


# --- Who may use it ------------------------------------------------------------------------


def test_a_merchant_cannot_use_the_wizard(client, partner_a, merchant_a):
    # given
    d = draft(partner_a)
    client.force_login(merchant_a)
    # then
    assert client.get(f"{BASE}new/").status_code == 403
    assert client.post(step_url(d, 2), {"name": "Mine"}).status_code == 403
    assert client.post(f"{BASE}{d.pk}/preview/", {"prefix": "email"}).status_code == 403
    assert fresh(partner_a, d).name == "Spring welcome"


def test_another_partner_cannot_see_or_change_a_draft(client, partner_a, partner_b, partner_user_b):
    # given a draft of alpha, and beta's user
    d = draft(partner_a)
    client.force_login(partner_user_b)
    # when beta's user uses alpha's URL, or beta's own portal with alpha's id
    assert client.get(step_url(d, 2)).status_code == 404
    assert client.post(f"/p/beta/distributions/{d.pk}/step/2/", {"name": "X"}).status_code == 404
    # then
    assert fresh(partner_a, d).name == "Spring welcome"


def test_anonymous_is_sent_to_sign_in(client, partner_a):
    # given
    d = draft(partner_a)
    # when
    response = client.get(step_url(d, 2))
    # then
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- The whole walk ------------------------------------------------------------------------


def test_walking_all_seven_steps_builds_a_launchable_draft(staff, partner_a):
    # given
    segment = in_alpha(partner_a, segment_with, 3)
    campaign = in_alpha(partner_a, campaign_with, 10, name="Walk codes")
    # when every step is posted in turn
    staff.post(f"{BASE}new/", {"kind": "manual"})
    d = in_alpha(partner_a, Distribution.objects.get)
    posts = [
        (2, {"name": "The walk"}),
        (3, {"action": "add-email"}),
        (3, {"action": "add-sms"}),
        (3, {"action": "next"}),
        (4, {**EMAIL, **SMS}),
        (5, reminder_post((3, "Reminder {{ voucher.code }}"))),
        (6, {"audience": "segment", "segment": segment.pk}),
        (7, {"campaign": campaign.pk}),
    ]
    for step, data in posts:
        response = staff.post(step_url(d, step), data)
        assert response.status_code == 302, (step, body(response))
    # then the review is ready to launch
    assert response["Location"] == f"{BASE}{d.pk}/review/"
    html = body(staff.get(response["Location"]))
    assert 'data-testid="review-problems"' not in html
    d = fresh(partner_a, d)
    assert (d.step, d.channels, d.audience, d.campaign_id) == (
        7,
        ["email", "sms"],
        "segment",
        campaign.pk,
    )
    from apps.distributions.services import distribution_check_complete

    assert in_alpha(partner_a, distribution_check_complete, d) == []
