"""SMS through Twilio: the real `twilio` SDK against a Prism mock of Twilio's OpenAPI spec
(sends, connection tests), a tiny local fake for the error answers the spec does not describe
(400 with Twilio codes, 401, 429, 500, a timeout), and the two signed webhooks (status
callback, inbound STOP / START)."""

from __future__ import annotations

import socket
import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.utils import timezone
from django_tenants.utils import schema_context
from twilio.request_validator import RequestValidator

from apps.customers.models import Customer, Event
from apps.messaging.adapters.base import OutgoingMessage, PermanentError, RetryableError
from apps.messaging.adapters.twilio_sms import TwilioSmsAdapter
from apps.messaging.crypto import encrypt_secrets
from apps.messaging.models import ChannelAccount, OutboxMessage
from apps.messaging.sending import outbox_send
from apps.messaging.services import Draft, channel_account_test, outbox_queue
from tests.factories import CustomerFactory
from tests.fakes.prism import require_prism, spec_path, start_prism
from tests.fakes.twilio_errors import TwilioErrorFake

Status = OutboxMessage.Status

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token-of-alpha"  # noqa: S105
SENDER = "+14155550199"
ANN_PHONE = "+14155550100"
PRISM_SID = "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"  # the spec's example answer
STATUS_PATH = "/p/alpha/hooks/twilio/status/"
INBOUND_PATH = "/p/alpha/hooks/twilio/inbound/"


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture(scope="session")
def twilio_prism():
    spec = spec_path("twilio_api_v2010.json")
    require_prism(spec)
    with start_prism(spec) as server:
        yield server


@pytest.fixture
def twilio_api(twilio_prism, settings):
    """The SDK pointed at Prism."""
    settings.TWILIO_API_BASE_URL = twilio_prism.url
    return twilio_prism


@pytest.fixture
def twilio_fake(settings):
    """The SDK pointed at the local error fake; retries back off from 1 s."""
    with TwilioErrorFake() as fake:
        settings.TWILIO_API_BASE_URL = fake.url
        settings.MESSAGING_RETRY_BASE = 1
        yield fake


def _sms_account(**config: str) -> ChannelAccount:
    return ChannelAccount.objects.create(
        channel="sms",
        config={"account_sid": ACCOUNT_SID, "from_number": SENDER, **config},
        secrets_encrypted=encrypt_secrets({"auth_token": AUTH_TOKEN}),
    )


def _queue_one(customer: Customer, **payload) -> OutboxMessage:
    outbox_queue(
        [Draft(channel="sms", customer=customer, body_text="Code ABC-123", payload=payload)]
    )
    return OutboxMessage.objects.get(customer=customer)


def _adapter(**config: str) -> TwilioSmsAdapter:
    return TwilioSmsAdapter(
        config={"account_sid": ACCOUNT_SID, "from_number": SENDER, **config},
        secrets={"auth_token": AUTH_TOKEN},
    )


def _message(to: str = ANN_PHONE, callback: str = "https://cb.example.test/s") -> OutgoingMessage:
    return OutgoingMessage(
        id=1, channel="sms", to=to, text="Code ABC-123", status_callback=callback
    )


def _twilio_post(
    client,
    path: str,
    params: dict[str, str],
    *,
    token: str = AUTH_TOKEN,
    signed_url: str | None = None,
    signature: str | None = None,
):
    """POST form data the way Twilio does, signed over `signed_url` (SITE_URL + path)."""
    url = signed_url or settings.SITE_URL + path
    if signature is None:
        signature = RequestValidator(token).compute_signature(url, params)
    headers = {"X-Twilio-Signature": signature} if signature else {}
    return client.post(
        path,
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers=headers,
    )


def _sent_message(partner, *, sid: str = "SM" + "1" * 32, status=Status.SENT) -> OutboxMessage:
    with schema_context(partner.schema_name):
        _sms_account()
        ann = CustomerFactory(ann=True)
        return OutboxMessage.objects.create(
            channel="sms",
            customer=ann,
            recipient=ANN_PHONE,
            body_text="Code",
            status=status,
            provider_id=sid,
            attempts=1,
        )


# --- sending through Prism ------------------------------------------------------------------


@pytest.mark.slow
def test_a_message_sent_through_twilio_keeps_its_sid(twilio_api, in_partner):
    # given an SMS account and a queued message
    _sms_account()
    message = _queue_one(CustomerFactory(ann=True))
    # when the send job runs
    totals = outbox_send("sms")
    # then Twilio (the Prism mock) accepted it and its SID is the provider id
    message.refresh_from_db()
    assert totals["sent"] == 1
    assert message.status == Status.SENT and message.attempts == 1
    assert message.provider_id == PRISM_SID
    assert message.result["twilio_status"] == "queued"


@pytest.mark.slow
def test_the_request_carries_sender_text_and_the_partners_status_callback(
    partner_a, twilio_api, settings
):
    settings.SITE_URL = "https://coupons.example.test"
    with schema_context(partner_a.schema_name):
        # given a message without its own callback URL
        adapter = _adapter()
        # when
        result = adapter.send(_message(callback=""))
        # then the SDK sent To, From, Body and this partner's status callback
        sent = adapter._http._test_only_last_request
        assert result.provider_id == PRISM_SID
        assert sent.url == f"{twilio_api.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        assert sent.data == {
            "To": ANN_PHONE,
            "From": SENDER,
            "Body": "Code ABC-123",
            "StatusCallback": "https://coupons.example.test/p/alpha/hooks/twilio/status/",
        }


@pytest.mark.slow
def test_a_messaging_service_replaces_the_sender_number(partner_a, twilio_api):
    # given an account that sends through a messaging service
    adapter = _adapter(messaging_service_sid="MG" + "0" * 32)
    # when
    result = adapter.send(_message())
    # then
    sent = adapter._http._test_only_last_request.data
    assert result.provider_id == PRISM_SID
    assert sent["MessagingServiceSid"] == "MG" + "0" * 32 and "From" not in sent
    assert sent["StatusCallback"] == "https://cb.example.test/s"


@pytest.mark.slow
def test_the_drafts_status_callback_reaches_twilio(twilio_fake, in_partner):
    # given a draft carrying its own callback URL
    twilio_fake.respond(201, {"sid": "SM" + "2" * 32, "status": "queued"})
    _sms_account()
    message = _queue_one(
        CustomerFactory(ann=True), status_callback="https://elsewhere.example.test/cb"
    )
    # when
    outbox_send("sms")
    # then
    message.refresh_from_db()
    assert message.provider_id == "SM" + "2" * 32
    assert twilio_fake.requests[0].form["StatusCallback"] == ["https://elsewhere.example.test/cb"]


# --- errors: retry or give up ---------------------------------------------------------------


@pytest.mark.slow
def test_a_500_is_retried_later(twilio_fake, in_partner):
    # given Twilio answering 500
    twilio_fake.answer(500, code=20500, message="Internal Server Error")
    _sms_account()
    message = _queue_one(CustomerFactory(ann=True))
    # when
    totals = outbox_send("sms")
    # then the message waits for another attempt
    message.refresh_from_db()
    assert totals["retry"] == 1
    assert (message.status, message.attempts) == (Status.PENDING, 1)
    assert message.error_key == "provider_unavailable"
    assert message.next_attempt_at > timezone.now()
    assert "unavailable" in message.last_error


@pytest.mark.slow
def test_a_429_waits_for_retry_after(twilio_fake, in_partner):
    # given Twilio limiting the rate and asking for two minutes
    twilio_fake.answer(429, code=20429, message="Too Many Requests", headers={"Retry-After": "120"})
    _sms_account()
    message = _queue_one(CustomerFactory(ann=True))
    # when
    outbox_send("sms")
    # then the next attempt is not before Retry-After (the backoff alone would be ~1 s)
    message.refresh_from_db()
    assert message.status == Status.PENDING and message.error_key == "rate_limited"
    wait = (message.next_attempt_at - timezone.now()).total_seconds()
    assert 110 < wait <= 121


@pytest.mark.slow
@pytest.mark.parametrize(
    ("code", "key", "phrase"),
    [
        (21211, "invalid_number", f"{ANN_PHONE} is not a valid mobile number"),
        (21610, "unsubscribed", "replied STOP"),
        (21606, "sender_not_allowed", f"{SENDER} cannot send SMS to {ANN_PHONE}"),
        (21659, "sender_not_allowed", f"{SENDER} is not a phone number of this Twilio account"),
        (21608, "unverified_recipient", f"verify {ANN_PHONE} in Twilio"),
        (21408, "region_not_allowed", "Geo permissions"),
    ],
)
def test_a_400_fails_at_once_with_a_reason(twilio_fake, code, key, phrase, in_partner):
    # given Twilio refusing the message with an error code
    twilio_fake.answer(400, code=code, message="Refused.")
    _sms_account()
    message = _queue_one(CustomerFactory(ann=True))
    # when
    totals = outbox_send("sms")
    # then it fails after one call, with a sentence a person understands
    message.refresh_from_db()
    assert totals["failed"] == 1 and len(twilio_fake.requests) == 1
    assert (message.status, message.error_key) == (Status.FAILED, key)
    assert phrase in message.last_error


@pytest.mark.slow
def test_an_unknown_400_keeps_twilios_words(twilio_fake):
    # given a code the adapter has no sentence for
    twilio_fake.answer(400, code=21999, message="Something specific went wrong.")
    # when / then
    with pytest.raises(PermanentError) as caught:
        _adapter().send(_message())
    assert caught.value.key == "rejected"
    assert caught.value.reason == (
        "Twilio refused the message (error 21999): Something specific went wrong."
    )


@pytest.mark.slow
def test_refused_credentials_fail_the_message(twilio_fake):
    # given
    twilio_fake.answer(401, code=20003, message="Authenticate")
    # when / then
    with pytest.raises(PermanentError) as caught:
        _adapter().send(_message())
    assert caught.value.key == "bad_credentials"
    assert "auth token" in caught.value.reason


@pytest.mark.slow
def test_a_timeout_is_retryable(twilio_fake, settings):
    # given Twilio answering after 3 s and a 0.5 s timeout
    settings.MESSAGING_TIMEOUT = 0.5
    twilio_fake.respond(201, {"sid": "SM" + "3" * 32})
    twilio_fake.current.delay = 3
    started = time.monotonic()
    # when / then
    with pytest.raises(RetryableError) as caught:
        _adapter().send(_message())
    assert caught.value.key == "timeout"
    assert time.monotonic() - started < 2.5


def test_an_unreachable_twilio_is_retryable(settings):
    # given nothing listening on the API address
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.TWILIO_API_BASE_URL = f"http://127.0.0.1:{port}"
    # when / then
    with pytest.raises(RetryableError) as caught:
        _adapter().send(_message())
    assert caught.value.key == "network_error"


def test_an_account_without_a_sender_is_misconfigured():
    # given / when / then
    with pytest.raises(PermanentError) as caught:
        _adapter(from_number="").send(_message())
    assert caught.value.key == "misconfigured"


# --- connection test ------------------------------------------------------------------------


@pytest.mark.slow
def test_connection_test_signs_in(twilio_api, in_partner):
    # given an account sending through a messaging service
    account = _sms_account(from_number="", messaging_service_sid="MG" + "0" * 32)
    # when
    ok, message = channel_account_test(account=account)
    # then
    assert ok is True
    assert message.startswith("Connected to the Twilio account “friendly_name”")
    assert account.last_test_ok is True


@pytest.mark.slow
@pytest.mark.parametrize(
    ("number", "phrase"),
    [
        (SENDER, f"{SENDER} is not a phone number of the Twilio account"),
        # The spec's example number has no SMS capability.
        ("+18089255327", "+18089255327 belongs to the account but cannot send SMS"),
    ],
)
def test_connection_test_checks_the_sender_number(twilio_api, number, phrase, in_partner):
    # given
    account = _sms_account(from_number=number)
    # when
    ok, message = channel_account_test(account=account)
    # then
    assert ok is False and phrase in message


@pytest.mark.slow
def test_connection_test_reports_refused_credentials(twilio_fake, in_partner):
    # given Twilio refusing the token
    twilio_fake.answer(401, code=20003, message="Authenticate")
    account = _sms_account()
    # when
    ok, message = channel_account_test(account=account)
    # then
    assert ok is False
    assert message.startswith("Twilio refused the account SID or auth token")
    assert twilio_fake.requests[0].path == f"/2010-04-01/Accounts/{ACCOUNT_SID}.json"


# --- status callback ------------------------------------------------------------------------


def test_a_signed_delivered_callback_marks_the_message_delivered(partner_a, client):
    # given a sent message
    message = _sent_message(partner_a)
    # when Twilio reports delivery
    response = _twilio_post(
        client,
        STATUS_PATH,
        {
            "MessageSid": message.provider_id,
            "MessageStatus": "delivered",
            "AccountSid": ACCOUNT_SID,
        },
    )
    # then
    assert response.status_code == 204
    with schema_context(partner_a.schema_name):
        message.refresh_from_db()
        assert message.status == Status.DELIVERED and message.delivered_at is not None


@pytest.mark.parametrize("twilio_status", ["undelivered", "failed"])
def test_an_undelivered_callback_fails_the_message_with_the_error_code(
    partner_a, client, twilio_status
):
    # given
    message = _sent_message(partner_a)
    # when
    response = _twilio_post(
        client,
        STATUS_PATH,
        {"MessageSid": message.provider_id, "MessageStatus": twilio_status, "ErrorCode": "30007"},
    )
    # then
    assert response.status_code == 204
    with schema_context(partner_a.schema_name):
        message.refresh_from_db()
        assert (message.status, message.error_key) == (Status.FAILED, "undelivered")
        assert "error 30007" in message.last_error and "spam" in message.last_error


def test_a_late_sent_callback_does_not_undo_delivered(partner_a, client):
    # given a delivered message
    message = _sent_message(partner_a, status=Status.DELIVERED)
    # when a "sent" report arrives after it
    response = _twilio_post(
        client, STATUS_PATH, {"MessageSid": message.provider_id, "MessageStatus": "sent"}
    )
    # then
    assert response.status_code == 204
    with schema_context(partner_a.schema_name):
        message.refresh_from_db()
        assert message.status == Status.DELIVERED


@pytest.mark.parametrize(
    "forgery",
    ["wrong signature", "no signature", "another token", "another URL"],
)
def test_a_forged_status_callback_is_refused_and_changes_nothing(partner_a, client, forgery):
    # given a sent message
    message = _sent_message(partner_a)
    params = {"MessageSid": message.provider_id, "MessageStatus": "failed", "ErrorCode": "30003"}
    options = {
        "wrong signature": {"signature": "bm90IGEgc2lnbmF0dXJl"},
        "no signature": {"signature": ""},
        "another token": {"token": "someone-elses-token"},
        "another URL": {"signed_url": settings.SITE_URL + "/p/beta/hooks/twilio/status/"},
    }[forgery]
    # when
    response = _twilio_post(client, STATUS_PATH, params, **options)
    # then
    assert response.status_code == 403
    with schema_context(partner_a.schema_name):
        message.refresh_from_db()
        assert (message.status, message.error_key) == (Status.SENT, "")


def test_a_callback_for_a_partner_without_an_sms_account_is_refused(partner_a, client):
    # given a sent message, then the account removed
    message = _sent_message(partner_a)
    with schema_context(partner_a.schema_name):
        ChannelAccount.objects.filter(channel="sms").delete()
    # when
    response = _twilio_post(
        client, STATUS_PATH, {"MessageSid": message.provider_id, "MessageStatus": "delivered"}
    )
    # then
    assert response.status_code == 403
    with schema_context(partner_a.schema_name):
        message.refresh_from_db()
        assert message.status == Status.SENT


def test_the_signature_covers_the_public_url_behind_a_proxy(partner_a, client, settings):
    # given the app served as https://coupons.example.test behind a proxy
    settings.SITE_URL = "https://coupons.example.test"
    message = _sent_message(partner_a)
    params = {"MessageSid": message.provider_id, "MessageStatus": "delivered"}
    # when signed over the internal address the request reached
    refused = _twilio_post(
        client, STATUS_PATH, params, signed_url="http://testserver" + STATUS_PATH
    )
    # and over the public address Twilio called
    accepted = _twilio_post(client, STATUS_PATH, params)
    # then only the public one counts
    assert (refused.status_code, accepted.status_code) == (403, 204)


def test_webhooks_only_take_post(partner_a, client):
    # given / when
    response = client.get(STATUS_PATH)
    # then
    assert response.status_code == 405


# --- inbound STOP / START -------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", ["STOP", " stop ", "StopAll", "UNSUBSCRIBE", "cancel", "End\n", "quit"]
)
def test_stop_opts_the_customer_out_of_sms(partner_a, client, body):
    with schema_context(partner_a.schema_name):
        # given a consenting customer with a pending SMS, and someone else
        _sms_account()
        ann = CustomerFactory(ann=True)
        bob = CustomerFactory(name="Bob", email="bob@example.test", phone="+14155550111")
        pending = _queue_one(ann)
    # when Ann replies STOP
    response = _twilio_post(client, INBOUND_PATH, {"From": ANN_PHONE, "To": SENDER, "Body": body})
    # then
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert b"<Response />" in response.content
    with schema_context(partner_a.schema_name):
        ann.refresh_from_db()
        bob.refresh_from_db()
        pending.refresh_from_db()
        assert (ann.sms_consent, ann.sms_consent_source) == (False, "sms_stop")
        assert ann.email_consent is True and bob.sms_consent is True
        assert Event.objects.filter(customer=ann, type="customer.unsubscribed").count() == 1
        assert (pending.status, pending.error_key) == (Status.SKIPPED, "no_consent")


def test_start_opts_the_customer_back_in(partner_a, client):
    with schema_context(partner_a.schema_name):
        # given a customer who replied STOP
        _sms_account()
        ann = CustomerFactory(ann=True)
    _twilio_post(client, INBOUND_PATH, {"From": ANN_PHONE, "Body": "STOP"})
    # when they reply START
    response = _twilio_post(client, INBOUND_PATH, {"From": ANN_PHONE, "Body": "Start"})
    # then
    assert response.status_code == 200
    with schema_context(partner_a.schema_name):
        ann.refresh_from_db()
        assert (ann.sms_consent, ann.sms_consent_source) == (True, "sms_start")
        assert Event.objects.filter(customer=ann, type="customer.subscribed").count() == 1


@pytest.mark.parametrize("body", ["please stop", "STOP!!! now", "Thanks", ""])
def test_other_replies_change_nothing(partner_a, client, body):
    with schema_context(partner_a.schema_name):
        # given
        _sms_account()
        ann = CustomerFactory(ann=True)
    # when
    response = _twilio_post(client, INBOUND_PATH, {"From": ANN_PHONE, "Body": body})
    # then
    assert response.status_code == 200
    with schema_context(partner_a.schema_name):
        ann.refresh_from_db()
        assert ann.sms_consent is True
        assert not Event.objects.filter(customer=ann).exists()


def test_twilios_opt_out_type_counts_for_custom_keywords(partner_a, client):
    with schema_context(partner_a.schema_name):
        # given a custom opt-out word configured in Twilio (Advanced Opt-Out)
        _sms_account()
        ann = CustomerFactory(ann=True)
    # when
    _twilio_post(client, INBOUND_PATH, {"From": ANN_PHONE, "Body": "ARRET", "OptOutType": "STOP"})
    # then
    with schema_context(partner_a.schema_name):
        ann.refresh_from_db()
        assert ann.sms_consent is False


def test_a_forged_stop_is_refused_and_changes_nothing(partner_a, client):
    with schema_context(partner_a.schema_name):
        # given
        _sms_account()
        ann = CustomerFactory(ann=True)
        pending = _queue_one(ann)
    # when someone posts a STOP signed with another token
    response = _twilio_post(
        client, INBOUND_PATH, {"From": ANN_PHONE, "Body": "STOP"}, token="guessed-token"
    )
    # then
    assert response.status_code == 403
    with schema_context(partner_a.schema_name):
        ann.refresh_from_db()
        pending.refresh_from_db()
        assert ann.sms_consent is True and pending.status == Status.PENDING
        assert not Event.objects.filter(customer=ann).exists()


def test_a_stop_for_another_partner_does_not_touch_this_one(partner_a, partner_b, client):
    # given the same phone number at two partners, each with its own SMS account
    with schema_context(partner_a.schema_name):
        _sms_account()
        ann_a = CustomerFactory(ann=True)
    with schema_context(partner_b.schema_name):
        ChannelAccount.objects.create(
            channel="sms",
            config={"account_sid": ACCOUNT_SID, "from_number": SENDER},
            secrets_encrypted=encrypt_secrets({"auth_token": "beta-token"}),
        )
        ann_b = CustomerFactory(ann=True)
    # when Ann replies STOP to partner B's number
    response = _twilio_post(
        client,
        "/p/beta/hooks/twilio/inbound/",
        {"From": ANN_PHONE, "Body": "STOP"},
        token="beta-token",
    )
    # then only B's customer is opted out
    assert response.status_code == 200
    with schema_context(partner_a.schema_name):
        ann_a.refresh_from_db()
        assert ann_a.sms_consent is True
    with schema_context(partner_b.schema_name):
        ann_b.refresh_from_db()
        assert ann_b.sms_consent is False


@pytest.mark.slow
def test_retry_after_is_kept_in_seconds_from_now(twilio_fake, in_partner):
    # given an HTTP-date Retry-After one minute ahead
    when = timezone.now() + timedelta(seconds=60)
    twilio_fake.answer(
        503,
        message="Unavailable",
        headers={"Retry-After": when.strftime("%a, %d %b %Y %H:%M:%S GMT")},
    )
    # when / then
    with pytest.raises(RetryableError) as caught:
        _adapter().send(_message())
    assert caught.value.key == "provider_unavailable"
    assert 50 < caught.value.retry_after <= 60
