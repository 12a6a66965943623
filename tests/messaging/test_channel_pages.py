"""The channel pages of the partner portal: connecting an account (secrets encrypted, shown
only as a hint, kept when left empty), form errors, disconnecting, test messages and the
outbox (filters, CSV, detail), and another partner's message being a 404."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from apps.customers.models import Customer
from apps.messaging.crypto import decrypt_secrets
from apps.messaging.models import ChannelAccount, OutboxMessage
from apps.messaging.sending import outbox_send
from apps.messaging.services import Draft, outbox_queue

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "tok-1234567890-secret-9f3a"


@pytest.fixture
def staff(client, partner_user_a):
    client.force_login(partner_user_a)
    return client


def _sms_form(**overrides):
    return {
        "account_sid": SID,
        "auth_token": TOKEN,
        "from_number": "+1 415 555 0100",
        "messaging_service_sid": "",
        "rate_limit": "5",
        **overrides,
    }


def test_channels_page_shows_every_channel_in_sandbox(staff, partner_a):
    # when
    response = staff.get("/p/alpha/channels/")
    # then
    body = response.content.decode()
    assert response.status_code == 200
    for label in ("Email", "SMS", "MailChimp", "Intercom"):
        assert f">{label}</h2>" in body
    assert body.count(">Sandbox</span>") == 4


def test_connecting_sms_encrypts_the_token_and_never_shows_it(staff, partner_a):
    # when
    response = staff.post("/p/alpha/channels/sms/", _sms_form())
    # then
    assert response.status_code == 302
    with schema_context(partner_a.schema_name):
        account = ChannelAccount.objects.get(channel="sms")
        assert TOKEN not in account.secrets_encrypted
        assert decrypt_secrets(account.secrets_encrypted) == {"auth_token": TOKEN}
        assert account.config["from_number"] == "+14155550100"
        assert account.rate_limit == 5
        assert account.last_test_at is not None  # saving ran a connection test
    for url in ("/p/alpha/channels/", "/p/alpha/channels/sms/"):
        page = staff.get(url).content.decode()
        assert TOKEN not in page
        assert "…9f3a" in page


def test_editing_without_retyping_keeps_the_saved_secret(staff, partner_a):
    # given
    staff.post("/p/alpha/channels/sms/", _sms_form())
    # when the sender changes and the token field is left empty
    staff.post("/p/alpha/channels/sms/", _sms_form(auth_token="", from_number="+14155550199"))
    # then
    with schema_context(partner_a.schema_name):
        account = ChannelAccount.objects.get(channel="sms")
        assert decrypt_secrets(account.secrets_encrypted) == {"auth_token": TOKEN}
        assert account.config["from_number"] == "+14155550199"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"account_sid": "XY123"}, "An Account SID is AC followed by 32 hexadecimal characters."),
        ({"from_number": "555-CALL"}, "is not a phone number in international form"),
        ({"from_number": ""}, "Give a sender number or a messaging service SID."),
        ({"auth_token": ""}, "This field is required."),
    ],
)
def test_bad_sms_settings_are_form_errors_and_store_nothing(staff, partner_a, overrides, message):
    # when
    response = staff.post("/p/alpha/channels/sms/", _sms_form(**overrides))
    # then
    assert response.status_code == 200
    assert message in response.content.decode()
    with schema_context(partner_a.schema_name):
        assert not ChannelAccount.objects.exists()


def test_email_smtp_needs_a_host_and_a_failing_test_is_reported(staff, partner_a):
    # when the host is missing
    form = {"mode": "smtp", "host": "", "port": "587", "security": "none", "rate_limit": "10"}
    response = staff.post("/p/alpha/channels/email/", form)
    # then
    assert "Required when you send through your own SMTP server." in response.content.decode()
    # when the server refuses connections
    staff.post("/p/alpha/channels/email/", {**form, "host": "127.0.0.1", "port": "9"})
    # then the account is saved with a failed test, shown on the card
    with schema_context(partner_a.schema_name):
        account = ChannelAccount.objects.get(channel="email")
        assert account.last_test_ok is False and account.last_test_message
    page = staff.get("/p/alpha/channels/").content.decode()
    assert "Connection failing" in page


def test_disconnect_asks_first_then_moves_waiting_messages_to_the_sandbox(staff, partner_a):
    # given an SMS account with one waiting message
    staff.post("/p/alpha/channels/sms/", _sms_form())
    with schema_context(partner_a.schema_name):
        outbox_queue([Draft(channel="sms", recipient="+14155550123", body_text="hi")])
    # when the page is opened
    confirm = staff.get("/p/alpha/channels/sms/disconnect/")
    # then it asks, and says what happens to the waiting message
    assert "1 message waiting to be sent will move to the sandbox" in confirm.content.decode()
    with schema_context(partner_a.schema_name):
        assert ChannelAccount.objects.filter(channel="sms").exists()
    # when confirmed
    staff.post("/p/alpha/channels/sms/disconnect/")
    # then
    with schema_context(partner_a.schema_name):
        assert not ChannelAccount.objects.exists()
        message = OutboxMessage.objects.get()
        assert message.sandbox and message.account_id is None


def test_a_test_sms_goes_to_the_sandbox_outbox(
    staff, partner_a, run_jobs, django_capture_on_commit_callbacks
):
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(
            "/p/alpha/channels/sms/send-test/",
            {"recipient": "+44 7700 900123", "text": "Hello €"},
        )
    run_jobs()
    # then
    assert response.status_code == 302
    detail = staff.get(response["Location"]).content.decode()
    assert "+447700900123" in detail
    assert "1 segment" in detail and "twilio.messages.create" in detail
    with schema_context(partner_a.schema_name):
        assert OutboxMessage.objects.get().status == "sent"


def test_a_test_message_to_a_bad_address_is_refused(staff, partner_a):
    # when
    response = staff.post("/p/alpha/channels/email/send-test/", {"recipient": "nope", "text": "x"})
    # then
    assert "Enter an email address" in response.content.decode()
    with schema_context(partner_a.schema_name):
        assert not OutboxMessage.objects.exists()


def test_outbox_filters_exports_and_shows_skip_reasons(staff, partner_a):
    # given one sent SMS and one skipped email
    with schema_context(partner_a.schema_name):
        quiet = Customer.objects.create(email="quiet@example.test", name="Quiet")
        outbox_queue(
            [
                Draft(channel="sms", recipient="+14155550100", body_text="code ABC"),
                Draft(channel="email", customer=quiet, subject="Your code"),
            ]
        )
        outbox_send("sms")
    # when filtered on skipped
    page = staff.get("/p/alpha/channels/outbox/?status=skipped").content.decode()
    # then
    assert "quiet@example.test" in page and "Skipped: no_consent" in page
    assert "+14155550100" not in page
    # when exported
    response = staff.get("/p/alpha/channels/outbox/?channel=sms&format=csv")
    rows = b"".join(response.streaming_content).decode().splitlines()
    # then
    assert rows[0].startswith("id,channel,sandbox,recipient,status")
    assert len(rows) == 2 and ",sms,True,+14155550100,sent," in rows[1]


def test_another_partners_message_is_404(client, partner_a, partner_user_b, partner_b):
    # given a message in partner alpha
    with schema_context(partner_a.schema_name):
        (message,) = outbox_queue([Draft(channel="sms", recipient="+14155550100", body_text="x")])
    client.force_login(partner_user_b)
    # when partner beta's user asks for that id under beta's portal
    response = client.get(f"/p/beta/channels/outbox/{message.pk}/")
    # then
    assert response.status_code == 404
