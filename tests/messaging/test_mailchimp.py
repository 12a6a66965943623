"""MailChimp: the real `mailchimp-marketing` SDK against a local fake of the members API
(tests/fakes/mailchimp.py), through the outbox and its send job; the connection test; and the
audience webhook with the right and a forged token."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.core.redis import redis_client
from apps.customers.models import Customer, Event
from apps.messaging.adapters.mailchimp import subscriber_hash
from apps.messaging.models import ChannelAccount, OutboxMessage
from apps.messaging.sending import outbox_send
from apps.messaging.services import Draft, channel_account_save, channel_account_test, outbox_queue
from apps.messaging.webhooks.mailchimp import mailchimp_webhook_token_ensure, mailchimp_webhook_url
from tests.factories import CustomerFactory
from tests.fakes.mailchimp import API_KEY, LIST_ID, FakeMailchimp

Status = OutboxMessage.Status


@pytest.fixture
def fake(settings):
    with FakeMailchimp() as server:
        settings.MAILCHIMP_API_BASE_URL = server.url
        yield server


def _account(**config) -> ChannelAccount:
    api_key = config.pop("api_key", API_KEY)
    return channel_account_save(
        channel="mailchimp",
        config={"server_prefix": "us21", "list_id": LIST_ID, "merge_field": "COUPON", **config},
        secrets={"api_key": api_key},
        rate_limit=50,
    )


def _queue(customer: Customer, code: str = "ABC-123") -> OutboxMessage:
    outbox_queue(
        [
            Draft(
                channel="mailchimp",
                customer=customer,
                payload={"merge_field": "COUPON", "value": code, "merge_fields": {"FNAME": "Ann"}},
            )
        ]
    )
    return OutboxMessage.objects.get(customer=customer)


def _make_due(message: OutboxMessage) -> None:
    # In the past of the test's transaction too: the claim compares with the database's now(),
    # which is when the transaction began.
    OutboxMessage.objects.filter(pk=message.pk).update(
        next_attempt_at=timezone.now() - timedelta(days=1)
    )


# --- sending through the outbox ---------------------------------------------------------


@pytest.mark.slow
def test_send_sets_the_merge_field_on_the_audience_member(fake, in_partner):
    # given
    _account()
    message = _queue(CustomerFactory(ann=True, email="Ann@Example.test"))
    # when
    totals = outbox_send("mailchimp")
    # then the member is upserted by the hash of the lower-cased address
    message.refresh_from_db()
    member_id = subscriber_hash("ann@example.test")
    assert totals["sent"] == 1
    assert message.status == Status.DELIVERED and message.delivered_at is not None
    assert message.provider_id == member_id
    member = fake.member("ann@example.test")
    assert member["merge_fields"] == {"COUPON": "ABC-123", "FNAME": "Ann"}
    assert member["status"] == "subscribed"
    method, path, body = fake.calls[-1]
    assert (method, path) == ("PUT", f"/3.0/lists/{LIST_ID}/members/{member_id}")
    assert body["status_if_new"] == "subscribed"


@pytest.mark.slow
def test_an_existing_member_keeps_their_status_and_gets_the_new_code(fake, in_partner):
    # given a member already in the audience with an older code
    _account()
    fake.add_member("ann@example.test")
    fake.member("ann@example.test")["merge_fields"]["COUPON"] = "OLD-1"
    message = _queue(CustomerFactory(ann=True), code="NEW-2")
    # when
    outbox_send("mailchimp")
    # then
    message.refresh_from_db()
    assert message.status == Status.DELIVERED
    assert fake.member("ann@example.test")["merge_fields"]["COUPON"] == "NEW-2"


@pytest.mark.slow
def test_500_is_retried_later_then_delivered(fake, in_partner):
    # given MailChimp fails once
    _account()
    message = _queue(CustomerFactory(ann=True))
    fake.fail_next(500)
    # when
    totals = outbox_send("mailchimp")
    # then the message waits for another attempt, nothing is stored at MailChimp
    message.refresh_from_db()
    assert totals["retry"] == 1
    assert message.status == Status.PENDING
    assert message.error_key == "provider_unavailable"
    assert message.next_attempt_at > timezone.now()
    assert fake.member("ann@example.test") is None
    # when the retry is due and MailChimp is back
    _make_due(message)
    outbox_send("mailchimp")
    # then
    message.refresh_from_db()
    assert message.status == Status.DELIVERED and message.attempts == 2
    assert fake.member("ann@example.test")["merge_fields"]["COUPON"] == "ABC-123"


@pytest.mark.slow
def test_an_empty_500_from_a_proxy_is_retried_too(fake, in_partner):
    # given an error without a body (the SDK returns it instead of raising)
    _account()
    message = _queue(CustomerFactory(ann=True))
    fake.fail_next(502, empty=True)
    # when
    outbox_send("mailchimp")
    # then
    message.refresh_from_db()
    assert (message.status, message.error_key) == (Status.PENDING, "provider_unavailable")


@pytest.mark.slow
def test_429_waits_for_retry_after(fake, settings, in_partner):
    # given a backoff much shorter than what MailChimp asks for
    settings.MESSAGING_RETRY_BASE = 1
    _account()
    message = _queue(CustomerFactory(ann=True))
    fake.fail_next(429, retry_after="120")
    # when
    outbox_send("mailchimp")
    # then
    message.refresh_from_db()
    assert (message.status, message.error_key) == (Status.PENDING, "rate_limited")
    assert message.next_attempt_at - timezone.now() > timedelta(seconds=110)


@pytest.mark.slow
def test_retryable_errors_fail_after_the_last_attempt(fake, settings, in_partner):
    # given
    settings.MESSAGING_MAX_ATTEMPTS = 2
    _account()
    message = _queue(CustomerFactory(ann=True))
    fake.fail_next(503, times=2)
    # when
    outbox_send("mailchimp")
    _make_due(message)
    outbox_send("mailchimp")
    # then
    message.refresh_from_db()
    assert (message.status, message.error_key) == (Status.FAILED, "provider_unavailable")
    assert message.attempts == 2


@pytest.mark.slow
def test_400_compliance_state_fails_at_once_as_unsubscribed(fake, in_partner):
    # given an address MailChimp will not re-subscribe
    _account()
    fake.fail_for(
        "ann@example.test",
        400,
        title="Member In Compliance State",
        detail="ann@example.test is already a list member in compliance state due to "
        "unsubscribe, bounce, or compliance review.",
    )
    message = _queue(CustomerFactory(ann=True))
    # when
    totals = outbox_send("mailchimp")
    again = outbox_send("mailchimp")
    # then failed for good, with a reason, and not tried again
    message.refresh_from_db()
    assert totals["failed"] == 1 and again == {"sent": 0, "failed": 0, "retry": 0, "skipped": 0}
    assert (message.status, message.error_key) == (Status.FAILED, "unsubscribed")
    assert "unsubscribed" in message.last_error and message.attempts == 1
    assert message.next_attempt_at is None


@pytest.mark.slow
def test_400_fake_address_fails_as_invalid_address(fake, in_partner):
    # given
    _account()
    fake.fail_for(
        "ann@example.test",
        400,
        title="Invalid Resource",
        detail="ann@example.test looks fake or invalid, please enter a real email address.",
    )
    message = _queue(CustomerFactory(ann=True))
    # when
    outbox_send("mailchimp")
    # then
    message.refresh_from_db()
    assert (message.status, message.error_key) == (Status.FAILED, "invalid_address")
    assert "looks fake or invalid" in message.last_error


@pytest.mark.slow
def test_other_400_is_permanent(fake, in_partner):
    # given
    _account()
    fake.fail_next(400, title="Invalid Resource", detail="Your merge fields were invalid.")
    message = _queue(CustomerFactory(ann=True))
    # when
    outbox_send("mailchimp")
    # then
    message.refresh_from_db()
    assert (message.status, message.error_key) == (Status.FAILED, "rejected")
    assert "Your merge fields were invalid." in message.last_error


@pytest.mark.slow
def test_an_unsubscribed_member_is_reported_as_failed(fake, in_partner):
    # given the member unsubscribed in MailChimp (the upsert keeps that status)
    _account()
    fake.add_member("ann@example.test", status="unsubscribed")
    message = _queue(CustomerFactory(ann=True))
    # when
    outbox_send("mailchimp")
    # then
    message.refresh_from_db()
    assert (message.status, message.error_key) == (Status.FAILED, "unsubscribed")


@pytest.mark.slow
def test_bad_api_key_and_unknown_list_fail_with_a_reason(fake, in_partner):
    # given a key MailChimp refuses
    _account(api_key="ffffffffffffffffffffffffffffffff-us21")
    bad_key = _queue(CustomerFactory(ann=True))
    # when
    outbox_send("mailchimp")
    # then
    bad_key.refresh_from_db()
    assert (bad_key.status, bad_key.error_key) == (Status.FAILED, "bad_credentials")
    assert "API key" in bad_key.last_error
    # given an audience id that does not exist
    _account(list_id="nope123")
    unknown = _queue(CustomerFactory(email="bob@example.test"))
    # when
    outbox_send("mailchimp")
    # then
    unknown.refresh_from_db()
    assert (unknown.status, unknown.error_key) == (Status.FAILED, "unknown_list")
    assert "nope123 does not exist in this MailChimp account" in unknown.last_error


@pytest.mark.slow
def test_network_errors_and_timeouts_are_retried(fake, settings, in_partner):
    # given MailChimp answers slower than the configured timeout
    settings.MESSAGING_TIMEOUT = 1
    fake.delay = 2.5
    _account()
    message = _queue(CustomerFactory(ann=True))
    # when
    outbox_send("mailchimp")
    # then
    message.refresh_from_db()
    assert (message.status, message.error_key) == (Status.PENDING, "timeout")
    # given nothing listens at the address any more
    fake.delay = 0
    settings.MAILCHIMP_API_BASE_URL = "http://127.0.0.1:9"
    _make_due(message)
    # when
    outbox_send("mailchimp")
    # then
    message.refresh_from_db()
    assert (message.status, message.error_key) == (Status.PENDING, "network")


@pytest.mark.slow
def test_the_send_job_delivers_when_queued_jobs_run(
    partner_a, fake, run_jobs, django_capture_on_commit_callbacks
):
    with schema_context(partner_a.schema_name):
        # given a message queued (its send jobs start on commit)
        _account()
        redis_client().delete(f"outbox:kick:{partner_a.schema_name}:mailchimp")
        with django_capture_on_commit_callbacks(execute=True):
            message = _queue(CustomerFactory(ann=True))
    # when a worker runs the queued jobs
    run_jobs("default")
    # then
    with schema_context(partner_a.schema_name):
        message.refresh_from_db()
        assert message.status == Status.DELIVERED
    assert fake.member("ann@example.test")["merge_fields"]["COUPON"] == "ABC-123"


# --- test connection ----------------------------------------------------------------------


@pytest.mark.slow
def test_connection_reports_the_audience_and_merge_field(fake, in_partner):
    # given
    account = _account()
    # when
    ok, message = channel_account_test(account=account)
    # then
    assert ok, message
    assert "Alpha shoppers" in message and "*|COUPON|*" in message
    assert [call[1] for call in fake.calls] == [
        "/3.0/ping",
        f"/3.0/lists/{LIST_ID}",
        f"/3.0/lists/{LIST_ID}/merge-fields",
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"api_key": "ffffffffffffffffffffffffffffffff-us21"}, "MailChimp refused the API key"),
        ({"list_id": "nope123"}, "The audience (list) id nope123 does not exist"),
        (
            {"merge_field": "PROMO"},
            "The merge field PROMO is missing in the audience “Alpha "
            "shoppers”: create it in MailChimp",
        ),
    ],
)
def test_connection_failures_say_what_to_fix(fake, config, expected, in_partner):
    # given
    account = _account(**config)
    # when
    ok, message = channel_account_test(account=account)
    # then
    account.refresh_from_db()
    assert not ok and expected in message
    assert account.last_test_ok is False and expected in account.last_test_message


@pytest.mark.slow
def test_connection_refuses_a_number_merge_field(fake, in_partner):
    # given
    fake.audiences[LIST_ID].merge_fields["COUPON"] = "number"
    account = _account()
    # when
    ok, message = channel_account_test(account=account)
    # then
    assert not ok and "codes need a text field" in message


# --- the audience webhook -----------------------------------------------------------------


def _hook(partner_slug: str, token: str) -> str:
    return f"/p/{partner_slug}/hooks/mailchimp/{token}/"


def _subscribe(email: str = "new@example.test", list_id: str = LIST_ID, kind: str = "subscribe"):
    return {
        "type": kind,
        "fired_at": "2026-11-23 10:00:00",
        "data[id]": "8a25ff1d98",
        "data[list_id]": list_id,
        "data[email]": email,
        "data[email_type]": "html",
        "data[merges][EMAIL]": email,
        "data[merges][FNAME]": "Nora",
        "data[merges][LNAME]": "Diaz",
    }


def test_webhook_answers_mailchimps_validation_get_only_with_the_token(partner_a, client):
    with schema_context(partner_a.schema_name):
        token = _account().webhook_token
    # when / then
    assert client.get(_hook("alpha", token)).status_code == 200
    assert client.get(_hook("alpha", token[:-1] + "x")).status_code == 403


def test_webhook_without_an_account_is_403(partner_a, client):
    # given no MailChimp account in alpha
    # when
    response = client.get(_hook("alpha", "anything"))
    # then
    assert response.status_code == 403


def test_subscribe_creates_the_customer_with_consent_and_an_event(partner_a, client):
    with schema_context(partner_a.schema_name):
        token = _account().webhook_token
    # when
    response = client.post(_hook("alpha", token), _subscribe())
    # then
    assert response.status_code == 200
    with schema_context(partner_a.schema_name):
        customer = Customer.objects.get(email="new@example.test")
        assert customer.name == "Nora Diaz"
        assert customer.email_consent and customer.email_consent_source == "mailchimp"
        event = Event.objects.get(type="mailchimp.subscribed")
        assert event.customer == customer
        assert event.payload["list_id"] == LIST_ID and event.payload["new_customer"] is True


def test_subscribe_of_a_known_customer_gives_consent_back_and_keeps_their_name(partner_a, client):
    with schema_context(partner_a.schema_name):
        token = _account().webhook_token
        known = Customer.objects.create(email="New@Example.test", name="Nora D.")
    # when
    client.post(_hook("alpha", token), _subscribe())
    # then
    with schema_context(partner_a.schema_name):
        known.refresh_from_db()
        assert Customer.objects.count() == 1
        assert known.name == "Nora D." and known.email_consent
        assert Event.objects.filter(type="mailchimp.subscribed", customer=known).count() == 1


def test_forged_token_is_403_and_changes_nothing(partner_a, partner_b, client):
    with schema_context(partner_a.schema_name):
        token = _account().webhook_token
        events = Event.objects.count()
    with schema_context(partner_b.schema_name):
        _account()
    # when: a guessed token, and alpha's token used on beta's address
    forged = client.post(_hook("alpha", "x" * 43), _subscribe())
    crossed = client.post(_hook("beta", token), _subscribe())
    # then
    assert (forged.status_code, crossed.status_code) == (403, 403)
    for schema in (partner_a.schema_name, partner_b.schema_name):
        with schema_context(schema):
            assert not Customer.objects.filter(email="new@example.test").exists()
    with schema_context(partner_a.schema_name):
        assert Event.objects.count() == events


def test_unsubscribe_opts_the_customer_out_of_email(partner_a, client):
    with schema_context(partner_a.schema_name):
        token = _account().webhook_token
        ann = CustomerFactory(ann=True)
        waiting = _queue(ann)
    # when
    response = client.post(
        _hook("alpha", token), _subscribe(email="ann@example.test", kind="unsubscribe")
    )
    # then
    assert response.status_code == 200
    with schema_context(partner_a.schema_name):
        ann.refresh_from_db()
        waiting.refresh_from_db()
        assert not ann.email_consent and ann.email_consent_source == "mailchimp"
        assert (waiting.status, waiting.error_key) == (Status.SKIPPED, "no_consent")
        assert Event.objects.filter(type="customer.unsubscribed", customer=ann).exists()


@pytest.mark.parametrize(
    "form",
    [
        _subscribe(list_id="otherlist1"),
        _subscribe(kind="profile"),
        _subscribe(kind="cleaned"),
        _subscribe(email="not-an-address"),
    ],
    ids=["another audience", "profile", "cleaned", "bad email"],
)
def test_other_notifications_are_acknowledged_and_ignored(partner_a, client, form):
    with schema_context(partner_a.schema_name):
        token = _account().webhook_token
        events = Event.objects.count()
    # when
    response = client.post(_hook("alpha", token), form)
    # then
    assert response.status_code == 200
    with schema_context(partner_a.schema_name):
        assert Customer.objects.count() == 0 and Event.objects.count() == events


def test_webhook_url_for_the_channel_page(settings, in_partner):
    # given an account saved before tokens existed
    account = _account()
    ChannelAccount.objects.filter(pk=account.pk).update(webhook_token="")
    account.refresh_from_db()
    # when
    url = mailchimp_webhook_url(account=account)
    # then
    account.refresh_from_db()
    assert len(account.webhook_token) >= 40
    assert url == f"{settings.SITE_URL}/p/alpha/hooks/mailchimp/{account.webhook_token}/"
    assert mailchimp_webhook_token_ensure(account=account) == account.webhook_token
