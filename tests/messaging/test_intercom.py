"""Intercom: the real `python-intercom` SDK against a Prism mock of Intercom's API 2.14 spec
(the normal flow, checked against the spec's request schemas) and against a tiny scripted
server for what the spec documents no answer for (429, 5xx, timeouts, a 409 on create);
through the outbox and its send job; the connection test; and the signed webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.customers.models import Customer, Event
from apps.messaging.adapters import adapter_for
from apps.messaging.adapters.base import OutgoingMessage, PermanentError
from apps.messaging.models import ChannelAccount, OutboxMessage
from apps.messaging.sending import outbox_send
from apps.messaging.services import Draft, channel_account_save, channel_account_test, outbox_queue
from tests.factories import CustomerFactory
from tests.fakes.intercom import ScriptedIntercom, error_list
from tests.fakes.prism import require_prism, spec_path, start_prism

Status = OutboxMessage.Status
SPEC = "intercom_api_2.14.yaml"
CLIENT_SECRET = "intercom-client-secret-0123456789"
# What Prism answers from the spec's examples.
PRISM_CONTACT_ID = "6762f0dd1bb69f9f2193bb83"


# --- fixtures -----------------------------------------------------------------------------


class PrismView:
    """The session's Prism server, with the log lines written since this test began."""

    def __init__(self, server):
        self.server = server
        self.start = len(server.log())

    def log(self) -> str:
        return self.server.log()[self.start :]

    def requests(self) -> list[str]:
        return re.findall(r"\[HTTP SERVER\] (\w+ \S+) ℹ\s+info\s+Request received", self.log())

    def request_violations(self) -> list[str]:
        """Our requests that break the spec (the spec's own example answers break it in places,
        which is not ours to fix: only request violations count)."""
        return re.findall(r"Violation: request\.\S+ [^\n]*", self.log())


@pytest.fixture(scope="session")
def intercom_prism():
    spec = spec_path(SPEC)
    require_prism(spec)
    with start_prism(spec) as server:
        yield server


@pytest.fixture
def prism(intercom_prism, settings):
    settings.INTERCOM_API_BASE_URL = intercom_prism.url
    return PrismView(intercom_prism)


@pytest.fixture
def scripted(settings):
    with ScriptedIntercom() as server:
        settings.INTERCOM_API_BASE_URL = server.url
        yield server


def _account(**config) -> ChannelAccount:
    return channel_account_save(
        channel="intercom",
        config={"attribute": "coupon_code", "admin_id": "", "message_type": "inapp", **config},
        secrets={"access_token": "dG9rOmFiYw==", "client_secret": CLIENT_SECRET},
        rate_limit=50,
    )


def _queue(customer: Customer, *, message: str = "", subject: str = "") -> OutboxMessage:
    payload = {"attribute": "coupon_code", "value": "ABC-123"}
    if message:
        payload["message"] = message
    outbox_queue([Draft(channel="intercom", customer=customer, subject=subject, payload=payload)])
    return OutboxMessage.objects.get(customer=customer)


def _contact_list(*contacts: dict) -> dict:
    return {
        "type": "list",
        "data": [{"type": "contact", "role": "user", **c} for c in contacts],
        "total_count": len(contacts),
        "pages": {"type": "pages", "page": 1, "per_page": 1, "total_pages": len(contacts)},
    }


# --- against Prism (Intercom's API 2.14 spec) ---------------------------------------------


@pytest.mark.slow
def test_send_creates_the_contact_and_sets_the_attribute(partner_a, prism):
    with schema_context(partner_a.schema_name):
        # given (the spec's search example finds nobody)
        _account()
        message = _queue(CustomerFactory(ann=True))
        # when
        totals = outbox_send("intercom")
        # then
        message.refresh_from_db()
        assert totals["sent"] == 1, message.last_error
        assert message.status == Status.DELIVERED
        assert message.provider_id == PRISM_CONTACT_ID
        assert message.result["contact_created"] is True
    assert prism.requests() == [
        "post /contacts/search",
        "post /contacts",
        f"put /contacts/{PRISM_CONTACT_ID}",
    ]
    assert prism.request_violations() == []


@pytest.mark.slow
@pytest.mark.parametrize("message_type", ["inapp", "email"])
def test_send_with_text_creates_a_message_from_the_admin(partner_a, prism, message_type):
    with schema_context(partner_a.schema_name):
        # given
        _account(admin_id="991267816", message_type=message_type)
        message = _queue(
            CustomerFactory(ann=True), message="Your code is ABC-123", subject="A gift"
        )
        # when
        outbox_send("intercom")
        # then
        message.refresh_from_db()
        assert message.status == Status.SENT, message.last_error
        assert message.result["message_id"] == "403918396"
    assert prism.requests()[-1] == "post /messages"
    assert prism.request_violations() == []


@pytest.mark.slow
def test_connection_names_the_workspace_and_admin(partner_a, prism):
    with schema_context(partner_a.schema_name):
        # given
        account = _account()
        # when
        ok, message = channel_account_test(account=account)
        # then
        assert ok, message
        assert "workspace “MyApp 1” as Ciaran1 Lee" in message
    assert prism.requests() == ["get /me"]
    assert prism.request_violations() == []


@pytest.mark.slow
def test_a_refused_token_is_permanent(prism, in_partner):
    # given Prism told to answer the spec's 401
    adapter = adapter_for("intercom", _account())
    adapter.options = {**adapter.options, "additional_headers": {"Prefer": "code=401"}}
    # when
    with pytest.raises(PermanentError) as refused:
        adapter.send(
            OutgoingMessage(
                id=1, channel="intercom", to="ann@example.test", payload={"value": "ABC-123"}
            )
        )
    # then
    assert refused.value.key == "bad_credentials"
    assert "Intercom refused the access token" in refused.value.reason


# --- against the scripted server (answers the spec does not document) ---------------------


@pytest.mark.slow
def test_an_existing_contact_gets_the_attribute_without_a_create(partner_a, scripted):
    with schema_context(partner_a.schema_name):
        # given Intercom knows the contact
        scripted.then(200, _contact_list({"id": "c0ffee01", "email": "ann@example.test"}))
        scripted.then(200, {"type": "contact", "id": "c0ffee01"})
        _account()
        message = _queue(CustomerFactory(ann=True))
        # when
        outbox_send("intercom")
        # then
        message.refresh_from_db()
        assert (message.status, message.provider_id) == (Status.DELIVERED, "c0ffee01")
    (m1, p1, h1, search), (m2, p2, _h2, update) = scripted.requests
    assert (m1, p1, m2, p2) == ("POST", "/contacts/search", "PUT", "/contacts/c0ffee01")
    assert search["query"] == {"field": "email", "operator": "=", "value": "ann@example.test"}
    assert update == {"custom_attributes": {"coupon_code": "ABC-123"}}
    assert h1["authorization"] == "Bearer dG9rOmFiYw==" and h1["intercom-version"] == "2.14"


@pytest.mark.slow
def test_a_contact_search_has_not_indexed_yet_is_used_from_the_409(partner_a, scripted):
    with schema_context(partner_a.schema_name):
        # given search lags behind and create says the contact exists
        scripted.then(200, _contact_list())
        scripted.then(
            409,
            error_list(
                "conflict",
                "A contact matching those details already exists with id=5f7f0d217289f8d2f4262080",
            ),
        )
        scripted.then(200, {"type": "contact", "id": "5f7f0d217289f8d2f4262080"})
        _account()
        message = _queue(CustomerFactory(ann=True))
        # when
        outbox_send("intercom")
        # then
        message.refresh_from_db()
        assert message.status == Status.DELIVERED
        assert message.provider_id == "5f7f0d217289f8d2f4262080"
    assert scripted.requests[-1][1] == "/contacts/5f7f0d217289f8d2f4262080"


@pytest.mark.slow
def test_500_is_retried_by_the_outbox_not_by_the_sdk(partner_a, scripted):
    with schema_context(partner_a.schema_name):
        # given Intercom fails (the scripted default is a 500)
        _account()
        message = _queue(CustomerFactory(ann=True))
        # when
        totals = outbox_send("intercom")
        # then one request, and the message waits for its next attempt
        message.refresh_from_db()
        assert totals["retry"] == 1
        assert (message.status, message.error_key) == (Status.PENDING, "provider_unavailable")
        assert message.next_attempt_at > timezone.now()
    assert len(scripted.requests) == 1


@pytest.mark.slow
def test_429_waits_until_the_rate_limit_window_resets(scripted, settings, in_partner):
    # given Intercom's limit resets in 90 s, much later than our backoff
    settings.MESSAGING_RETRY_BASE = 1
    reset = int(time.time()) + 90
    scripted.then(
        429,
        error_list("rate_limit_exceeded", "Exceeded rate limit"),
        {
            "X-RateLimit-Limit": "10000",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(reset),
        },
    )
    _account()
    message = _queue(CustomerFactory(ann=True))
    # when
    outbox_send("intercom")
    # then
    message.refresh_from_db()
    assert (message.status, message.error_key) == (Status.PENDING, "rate_limited")
    assert message.next_attempt_at - timezone.now() > timedelta(seconds=80)


@pytest.mark.slow
def test_other_4xx_fail_at_once_with_intercoms_reason(scripted, in_partner):
    # given the contact is found but the update is refused
    scripted.then(200, _contact_list({"id": "c0ffee01", "email": "ann@example.test"}))
    scripted.then(
        400, error_list("parameter_invalid", "Custom attribute 'coupon_code' does not exist")
    )
    _account()
    message = _queue(CustomerFactory(ann=True))
    # when
    outbox_send("intercom")
    # then
    message.refresh_from_db()
    assert (message.status, message.error_key) == (Status.FAILED, "rejected")
    assert "Custom attribute 'coupon_code' does not exist" in message.last_error
    assert message.next_attempt_at is None


@pytest.mark.slow
def test_a_timeout_is_retried(scripted, settings, in_partner):
    # given Intercom answers slower than the configured timeout
    settings.MESSAGING_TIMEOUT = 1
    scripted.delay = 2.5
    _account()
    message = _queue(CustomerFactory(ann=True))
    # when
    outbox_send("intercom")
    # then
    message.refresh_from_db()
    assert (message.status, message.error_key) == (Status.PENDING, "timeout")


@pytest.mark.slow
def test_connection_with_a_bad_token_says_so(scripted, in_partner):
    # given
    scripted.then(401, error_list("unauthorized", "Access Token Invalid"))
    account = _account()
    # when
    ok, message = channel_account_test(account=account)
    # then
    assert not ok
    assert message.startswith("Intercom refused the access token: check it in")


@pytest.mark.slow
def test_a_sender_admin_id_that_is_not_a_number_fails_with_a_reason(scripted, in_partner):
    # given the contact exists and the attribute is set
    scripted.then(200, _contact_list({"id": "c0ffee01", "email": "ann@example.test"}))
    scripted.then(200, {"type": "contact", "id": "c0ffee01"})
    _account(admin_id="ann@shop")
    message = _queue(CustomerFactory(ann=True), message="Hi")
    # when
    outbox_send("intercom")
    # then
    message.refresh_from_db()
    assert (message.status, message.error_key) == (Status.FAILED, "misconfigured")
    assert "not a number" in message.last_error


# --- the signed webhook -------------------------------------------------------------------

HOOK = "/p/alpha/hooks/intercom/"


def _notification(topic: str, email: str = "ann@example.test") -> bytes:
    return json.dumps(
        {
            "type": "notification_event",
            "app_id": "abc123",
            "topic": topic,
            "id": "notif_1",
            "created_at": 1734537780,
            "data": {
                "type": "notification_event_data",
                "item": {"type": "contact", "id": "c0ffee01", "role": "user", "email": email},
            },
        }
    ).encode()


def _post(client, body: bytes, *, secret: str = CLIENT_SECRET, signature: str | None = None):
    if signature is None:
        signature = "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    headers = {"HTTP_X_HUB_SIGNATURE": signature} if signature else {}
    return client.post(HOOK, body, content_type="application/json", **headers)


def test_webhook_ping_with_a_valid_signature(partner_a, client):
    with schema_context(partner_a.schema_name):
        _account()
    # when / then
    assert _post(client, _notification("ping")).status_code == 200


def test_contact_created_records_an_event_for_a_known_customer_only(partner_a, client):
    with schema_context(partner_a.schema_name):
        _account()
        ann = CustomerFactory(ann=True)
    # when
    known = _post(client, _notification("contact.user.created"))
    unknown = _post(client, _notification("contact.lead.created", email="lead@example.test"))
    # then
    assert (known.status_code, unknown.status_code) == (200, 200)
    with schema_context(partner_a.schema_name):
        event = Event.objects.get(type="intercom.contact.user.created")
        assert event.customer == ann and event.payload["contact_id"] == "c0ffee01"
        assert not Customer.objects.filter(email="lead@example.test").exists()
        assert not Event.objects.filter(type="intercom.contact.lead.created").exists()


@pytest.mark.parametrize("topic", ["contact.unsubscribed", "contact.user.unsubscribed"])
def test_contact_unsubscribed_opts_the_customer_out_of_email(partner_a, client, topic):
    with schema_context(partner_a.schema_name):
        _account()
        ann = CustomerFactory(ann=True)
    # when
    response = _post(client, _notification(topic))
    # then
    assert response.status_code == 200
    with schema_context(partner_a.schema_name):
        ann.refresh_from_db()
        assert not ann.email_consent and ann.email_consent_source == "intercom"


@pytest.mark.parametrize(
    "signing",
    [
        {"secret": "another-secret"},
        {"signature": ""},
        {"signature": "sha1=" + "0" * 40},
        {"signature": "sha256=whatever"},
    ],
    ids=["wrong secret", "missing", "zeros", "other scheme"],
)
def test_forged_or_missing_signature_is_403_and_changes_nothing(partner_a, client, signing):
    with schema_context(partner_a.schema_name):
        _account()
        ann = CustomerFactory(ann=True)
        events = Event.objects.count()
    # when
    response = _post(client, _notification("contact.unsubscribed"), **signing)
    # then
    assert response.status_code == 403
    with schema_context(partner_a.schema_name):
        ann.refresh_from_db()
        assert ann.email_consent and Event.objects.count() == events


def test_webhook_without_an_intercom_account_or_secret_is_403(partner_a, client):
    # given no account at all
    assert _post(client, _notification("ping")).status_code == 403
    # given an account without a client secret
    with schema_context(partner_a.schema_name):
        channel_account_save(
            channel="intercom",
            config={"attribute": "coupon_code"},
            secrets={"access_token": "tok"},
            rate_limit=10,
        )
    assert _post(client, _notification("ping"), secret="").status_code == 403


def test_a_signed_body_that_is_not_json_is_400(partner_a, client):
    with schema_context(partner_a.schema_name):
        _account()
    # when / then
    assert _post(client, b"not json").status_code == 400
