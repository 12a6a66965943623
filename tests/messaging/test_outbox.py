"""The outbox and its send job, through the sandbox and a scripted adapter: who is skipped and
why, claiming (a job run twice sends once), retries with backoff versus final failures, stale
rows, delivery reports that never go backwards, opt-outs, and the shared rate limit."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import override_settings
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.customers.models import Customer, Event
from apps.messaging import adapters as adapter_registry
from apps.messaging.adapters.base import (
    BaseAdapter,
    PermanentError,
    SendResult,
    http_error,
    parse_retry_after,
)
from apps.messaging.crypto import decrypt_secrets, encrypt_secrets
from apps.messaging.models import ChannelAccount, OutboxMessage
from apps.messaging.sending import acquire, claim, outbox_send
from apps.messaging.services import (
    Draft,
    customer_opt_out,
    outbox_provider_status,
    outbox_queue,
)
from apps.messaging.sms import sms_segments
from tests.conftest import committed_db
from tests.factories import CustomerFactory

Status = OutboxMessage.Status


class Scripted(BaseAdapter):
    """An adapter whose answers a test scripts: a list of results or errors, in order."""

    channel = "email"
    script: list = []
    sent: list = []

    def send(self, message):
        Scripted.sent.append(message.to)
        answer = Scripted.script.pop(0) if Scripted.script else SendResult(provider_id="ok")
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def scripted(monkeypatch):
    Scripted.script, Scripted.sent = [], []
    monkeypatch.setitem(adapter_registry.ADAPTERS, "email", f"{__name__}.Scripted")
    return Scripted


def test_sandbox_messages_are_kept_with_the_calls_they_would_make(in_partner):
    # given no SMS account
    ann = CustomerFactory(ann=True)
    outbox_queue([Draft(channel="sms", customer=ann, body_text="Your code: ABC-123")])
    # when
    totals = outbox_send("sms")
    # then
    message = OutboxMessage.objects.get()
    assert totals["sent"] == 1
    assert message.sandbox and message.status == Status.SENT
    assert message.recipient == "+14155550100"
    assert message.provider_id.startswith("sandbox-")
    call = message.result["calls"][0]
    assert call["call"] == "twilio.messages.create" and call["segments"] == 1


def test_no_consent_and_no_address_are_skipped_with_a_reason(in_partner):
    # given
    silent = CustomerFactory(email="s@example.test", email_consent=False)
    nowhere = CustomerFactory(email=None, phone="")
    # when
    outbox_queue(
        [
            Draft(channel="email", customer=silent, subject="Hi"),
            Draft(channel="sms", customer=nowhere, body_text="Hi"),
        ]
    )
    # then
    reasons = dict(OutboxMessage.objects.values_list("channel", "error_key"))
    assert reasons == {"email": "no_consent", "sms": "no_address"}
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {Status.SKIPPED}


def test_consent_withdrawn_after_queueing_skips_at_send_time(in_partner):
    # given a queued email
    ann = CustomerFactory(ann=True)
    outbox_queue([Draft(channel="email", customer=ann, subject="Hi", body_text="x")])
    # when consent goes away before the worker runs
    Customer.objects.filter(pk=ann.pk).update(email_consent=False)
    outbox_send("email")
    # then
    message = OutboxMessage.objects.get()
    assert (message.status, message.error_key) == (Status.SKIPPED, "no_consent")


def test_dedupe_key_keeps_one_message(in_partner):
    # given
    ann = CustomerFactory(ann=True)
    draft = Draft(channel="email", customer=ann, subject="Hi", dedupe_key="d1:c1:email:0")
    # when queued twice
    outbox_queue([draft])
    outbox_queue([draft])
    # then
    assert OutboxMessage.objects.count() == 1


def test_a_job_run_twice_sends_once(scripted, in_partner):
    # given an account and five queued messages
    ChannelAccount.objects.create(channel="email", config={"mode": "platform"})
    outbox_queue(
        [Draft(channel="email", recipient=f"r{n}@example.test", subject="s") for n in range(5)]
    )
    # when the job runs twice
    first = outbox_send("email")
    second = outbox_send("email")
    # then
    assert first["sent"] == 5 and second["sent"] == 0
    assert sorted(scripted.sent) == sorted(f"r{n}@example.test" for n in range(5))


@committed_db()
def test_two_workers_claim_disjoint_rows(partner_a, empty_partner_schemas):
    # given 40 queued messages
    with schema_context(partner_a.schema_name):
        outbox_queue(
            [Draft(channel="sms", recipient=f"+1415555{n:04d}", body_text="x") for n in range(40)]
        )
    claimed: list[list[int]] = []
    barrier = threading.Barrier(2)

    def worker():
        with schema_context(partner_a.schema_name):
            barrier.wait()
            claimed.append([m.pk for m in claim("sms", 25)])
        connection.close()

    # when two workers claim at the same moment
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then no row is taken twice and every claimed row is SENDING
    together = claimed[0] + claimed[1]
    assert len(together) == len(set(together)) == 40
    with schema_context(partner_a.schema_name):
        assert OutboxMessage.objects.filter(status=Status.SENDING).count() == 40


@override_settings(MESSAGING_RETRY_BASE=60, MESSAGING_MAX_ATTEMPTS=2)
def test_retryable_errors_back_off_then_fail(scripted, in_partner):
    # given a provider that answers 503 twice
    ChannelAccount.objects.create(channel="email", config={"mode": "platform"})
    scripted.script = [http_error(503, "Down."), http_error(503, "Still down.")]
    outbox_queue([Draft(channel="email", recipient="r@example.test", subject="s")])
    # when
    outbox_send("email")
    # then it waits about a minute before the next attempt
    message = OutboxMessage.objects.get()
    assert message.status == Status.PENDING and message.attempts == 1
    assert message.error_key == "provider_unavailable"
    wait = (message.next_attempt_at - timezone.now()).total_seconds()
    assert 40 < wait < 80
    # when the retry is due and fails again (last attempt)
    OutboxMessage.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    outbox_send("email")
    # then
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.FAILED, 2)
    assert message.last_error.startswith("Still down.")


def test_retry_after_is_respected(scripted, in_partner):
    # given a 429 asking for 600 seconds
    ChannelAccount.objects.create(channel="email", config={"mode": "platform"})
    scripted.script = [http_error(429, "Slow down.", retry_after=parse_retry_after("600"))]
    outbox_queue([Draft(channel="email", recipient="r@example.test", subject="s")])
    # when
    outbox_send("email")
    # then
    message = OutboxMessage.objects.get()
    assert (message.next_attempt_at - timezone.now()).total_seconds() > 590
    assert message.error_key == "rate_limited"


def test_permanent_errors_fail_at_once_with_the_reason(scripted, in_partner):
    # given
    ChannelAccount.objects.create(channel="email", config={"mode": "platform"})
    scripted.script = [PermanentError("invalid_address", "x@y is not a mailbox.")]
    outbox_queue([Draft(channel="email", recipient="x@y", subject="s")])
    # when
    outbox_send("email")
    # then
    message = OutboxMessage.objects.get()
    assert (message.status, message.error_key, message.attempts) == (
        Status.FAILED,
        "invalid_address",
        1,
    )
    assert message.last_error == "x@y is not a mailbox."


def test_rows_left_sending_by_a_dead_worker_are_never_sent_again(scripted, in_partner):
    # given a row claimed 20 minutes ago by a worker that died
    ChannelAccount.objects.create(channel="email", config={"mode": "platform"})
    outbox_queue([Draft(channel="email", recipient="r@example.test", subject="s")])
    claim("email", 10)
    OutboxMessage.objects.update(claimed_at=timezone.now() - timedelta(minutes=20))
    # when the next job runs
    outbox_send("email")
    # then
    message = OutboxMessage.objects.get()
    assert (message.status, message.error_key) == (Status.FAILED, "outcome_unknown")
    assert scripted.sent == []


def test_delivery_reports_never_go_backwards(in_partner):
    # given a sent message
    outbox_queue([Draft(channel="sms", recipient="+14155550100", body_text="x")])
    outbox_send("sms")
    provider_id = OutboxMessage.objects.get().provider_id
    # when delivered, then a late "sent" arrives
    assert outbox_provider_status(provider_id=provider_id, status="delivered") == 1
    assert outbox_provider_status(provider_id=provider_id, status="sent") == 0
    # then
    message = OutboxMessage.objects.get()
    assert message.status == Status.DELIVERED and message.delivered_at is not None
    # an unknown status changes nothing
    assert outbox_provider_status(provider_id=provider_id, status="exploded") == 0


def test_opt_out_skips_waiting_messages_and_records_once(in_partner):
    # given a pending SMS and a pending email
    ann = CustomerFactory(ann=True)
    outbox_queue(
        [
            Draft(channel="sms", customer=ann, body_text="x"),
            Draft(channel="email", customer=ann, subject="s"),
        ]
    )
    # when the customer replies STOP, twice
    assert customer_opt_out(customer=ann, channel="sms", source="sms_stop") is True
    assert customer_opt_out(customer=ann, channel="sms", source="sms_stop") is False
    # then only the SMS is skipped, and one event is recorded
    statuses = dict(OutboxMessage.objects.values_list("channel", "status"))
    assert statuses == {"sms": Status.SKIPPED, "email": Status.PENDING}
    ann.refresh_from_db()
    assert ann.sms_consent is False and ann.sms_consent_source == "sms_stop"
    assert Event.objects.filter(customer=ann, type="customer.unsubscribed").count() == 1


def test_rate_limit_is_shared_per_second(db):
    # given a budget of 5 per second
    bucket = f"test:{time.time_ns()}"
    # when two takers ask for 4 each within one second
    start = time.monotonic()
    first = acquire(bucket, 5, 4)
    second = acquire(bucket, 5, 4)
    # then the second gets what is left, or waits for the next second
    elapsed = time.monotonic() - start
    assert first == 4
    assert second == 1 or (second == 4 and elapsed >= 0.0)
    total_in_first_second = first + (second if second == 1 else 0)
    assert total_in_first_second <= 5


def test_secrets_round_trip_and_are_not_stored_in_clear():
    # when
    token = encrypt_secrets({"auth_token": "s3cr3t-value"})
    # then
    assert "s3cr3t" not in token
    assert decrypt_secrets(token) == {"auth_token": "s3cr3t-value"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ("GSM-7", 0)),
        ("a" * 160, ("GSM-7", 1)),
        ("a" * 161, ("GSM-7", 2)),
        ("€" * 80, ("GSM-7", 1)),  # extension characters count twice
        ("é" * 160, ("GSM-7", 1)),
        ("ł" * 70, ("UCS-2", 1)),
        ("ł" * 71, ("UCS-2", 2)),
    ],
)
def test_sms_segments(text, expected):
    assert sms_segments(text) == expected
