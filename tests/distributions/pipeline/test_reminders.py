"""Reminders: each goes once per code when its delay has passed, never for a redeemed code, and
a reminder queued before the code was redeemed is skipped."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import django_rq
import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.distributions import jobs
from apps.distributions.models import Activity, Recipient
from apps.distributions.pipeline.fanout import fanout_run
from apps.distributions.pipeline.queue import tick_schedule
from apps.distributions.pipeline.reminders import reminders_send
from apps.distributions.services import (
    distribution_archive,
    distribution_check_complete,
    distribution_launch,
)
from apps.messaging.models import OutboxMessage
from apps.redemptions.models import Channel
from apps.redemptions.services import Actor, voucher_redeem
from tests.distributions import pipeline_setup as setup
from tests.factories import MerchantFactory

REMINDER = {
    "email": {"subject": "Still yours", "html": "<p>{{ voucher.code }} is waiting</p>"},
    "sms": {"text": "Reminder: {{ voucher.code }}"},
}


@pytest.fixture(autouse=True)
def _clean_flags():
    setup.clear_pipeline_flags()
    yield
    setup.clear_pipeline_flags()


def launched(partner_user, n: int, reminders: list[dict]):
    """A manual distribution to `n` customers, fanned out."""
    people = setup.customers(n)
    d = setup.distribution(
        segment=setup.static_segment(people), campaign=setup.campaign(n), reminders=reminders
    )
    distribution_launch(distribution=d, actor=partner_user)
    fanout_run(d.pk)
    d.refresh_from_db()
    return d, people


def sent_days_ago(d, days: float, customers=None) -> None:
    rows = Recipient.objects.filter(distribution=d)
    if customers is not None:
        rows = rows.filter(customer__in=customers)
    rows.update(messaged_at=timezone.now() - dt.timedelta(days=days))


def reminder_rows(d, index: int = 1):
    return OutboxMessage.objects.filter(distribution_id=d.pk, reminder_index=index)


def test_a_reminder_goes_once_when_its_delay_has_passed(partner_user_a, in_partner):
    d, people = launched(partner_user_a, 4, [{"days": 3, "content": REMINDER}])
    sent_days_ago(d, 4, people[:2])
    sent_days_ago(d, 2, people[2:])
    # when
    first = reminders_send()
    second = reminders_send()
    # then
    rows = reminder_rows(d)
    assert first["recipients"] == 2 and second["recipients"] == 0
    assert rows.count() == 4  # 2 customers × email + SMS
    assert set(rows.values_list("customer_id", flat=True)) == {p.pk for p in people[:2]}
    assert set(rows.values_list("status", flat=True)) == {"pending"}
    by_customer = {r.customer_id: r.voucher_id for r in Recipient.objects.filter(distribution=d)}
    assert all(m.voucher_id == by_customer[m.customer_id] for m in rows)
    assert set(
        Recipient.objects.filter(distribution=d).values_list("customer_id", "reminders_sent")
    ) == {(p.pk, 1) for p in people[:2]} | {(p.pk, 0) for p in people[2:]}
    # the template is the reminder's, not the first message's
    assert rows.filter(channel="sms").first().template.content["text"] == (REMINDER["sms"]["text"])
    assert "reminder 1 to 2" in Activity.objects.get(distribution=d, kind="reminders").message
    # when: the others' delay passes too
    sent_days_ago(d, 3.5, people[2:])
    reminders_send()
    # then
    assert reminder_rows(d).count() == 8


def test_a_redeemed_code_gets_no_reminder(partner_user_a, merchant_a, in_partner):
    d, people = launched(partner_user_a, 2, [{"days": 1, "content": REMINDER}])
    sent_days_ago(d, 2)
    merchant = MerchantFactory(user=merchant_a, allowed=[d.campaign])
    redeemed = Recipient.objects.select_related("voucher").get(distribution=d, customer=people[0])
    voucher_redeem(
        actor=Actor(channel=Channel.WEB, merchant=merchant, user=merchant_a),
        code=redeemed.voucher.code,
        order_amount=2000,
    )
    # when
    reminders_send()
    # then
    assert set(reminder_rows(d).values_list("customer_id", flat=True)) == {people[1].pk}
    assert Recipient.objects.get(pk=redeemed.pk).reminders_sent == 0


def test_a_queued_reminder_of_a_code_redeemed_since_is_skipped(
    partner_user_a, merchant_a, in_partner
):
    d, people = launched(partner_user_a, 2, [{"days": 1, "content": REMINDER}])
    sent_days_ago(d, 2)
    reminders_send()
    merchant = MerchantFactory(user=merchant_a, allowed=[d.campaign])
    code = Recipient.objects.get(distribution=d, customer=people[0]).voucher.code
    voucher_redeem(
        actor=Actor(channel=Channel.WEB, merchant=merchant, user=merchant_a),
        code=code,
        order_amount=2000,
    )
    # when
    result = reminders_send()
    # then
    rows = reminder_rows(d)
    assert result["canceled"] == 2
    assert set(rows.filter(customer=people[0]).values_list("status", "error_key")) == {
        ("skipped", "redeemed")
    }
    assert set(rows.filter(customer=people[1]).values_list("status", flat=True)) == {"pending"}
    # the first message (reminder 0) is never touched
    assert not OutboxMessage.objects.filter(
        distribution_id=d.pk, reminder_index=0, status="skipped"
    ).exists()


def test_when_two_reminders_are_due_at_once_only_the_later_goes(partner_user_a, in_partner):
    d, people = launched(
        partner_user_a,
        2,
        [{"days": 2, "content": REMINDER}, {"days": 5, "content": REMINDER}],
    )
    sent_days_ago(d, 3, people[:1])
    sent_days_ago(d, 6, people[1:])
    # when
    reminders_send()
    reminders_send()
    # then
    assert set(reminder_rows(d, 1).values_list("customer_id", flat=True)) == {people[0].pk}
    assert set(reminder_rows(d, 2).values_list("customer_id", flat=True)) == {people[1].pk}
    # when: the first customer reaches day 5
    sent_days_ago(d, 5.5, people[:1])
    reminders_send()
    # then: reminder 2 once, reminder 1 never again
    assert reminder_rows(d, 2).count() == 4 and reminder_rows(d, 1).count() == 2


def test_an_archived_distribution_sends_no_reminder(partner_user_a, in_partner):
    d, _ = launched(partner_user_a, 2, [{"days": 1, "content": REMINDER}])
    sent_days_ago(d, 2)
    distribution_archive(distribution=d, actor=partner_user_a)
    # when
    result = reminders_send()
    # then
    assert result["recipients"] == 0 and not reminder_rows(d).exists()


def test_the_send_reminders_command_runs_every_partner(partner_a, partner_b, partner_user_a):
    # given
    with schema_context("p_alpha"):
        d, _ = launched(partner_user_a, 3, [{"days": 1, "content": REMINDER}])
        sent_days_ago(d, 2)
    out = StringIO()
    # when
    call_command("send_reminders", stdout=out)
    # then
    assert "alpha: 3 reminders queued in 1 distributions" in out.getvalue()
    assert "beta: 0 reminders queued" in out.getvalue()
    with schema_context("p_alpha"):
        assert reminder_rows(d).count() == 6


def test_the_send_reminders_command_refuses_an_unknown_partner(partner_a):
    # when / then
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No ready partner"):
        call_command("send_reminders", partner="nope")


def test_the_periodic_tick_is_scheduled_once_and_sends_reminders(partner_a, partner_user_a):
    # given
    queue = django_rq.get_queue("low")
    registry = queue.scheduled_job_registry
    for job_id in registry.get_job_ids():
        registry.remove(job_id, delete_job=True)
    with schema_context("p_alpha"):
        d, _ = launched(partner_user_a, 2, [{"days": 1, "content": REMINDER}])
        sent_days_ago(d, 2)
    # when
    first = tick_schedule()
    second = tick_schedule()
    totals = jobs.distributions_tick()  # what the scheduled job runs
    # then: the tick sent the reminders and scheduled the next tick (one job waiting)
    try:
        assert (first, second) == (True, False)
        assert totals["reminders"] == 2 and totals["failed"] == []
        assert registry.count == 2  # the first schedule's job and the tick's own next one
        with schema_context("p_alpha"):
            assert reminder_rows(d).count() == 4
    finally:
        for job_id in registry.get_job_ids():
            registry.remove(job_id, delete_job=True)


def test_mailchimp_gets_no_reminder(partner_user_a, in_partner):
    people = setup.customers(2)
    d = setup.distribution(
        segment=setup.static_segment(people),
        campaign=setup.campaign(2),
        channels=["email", "mailchimp"],
        content={"email": setup.EMAIL, "mailchimp": {"merge_field": "COUPON"}},
        reminders=[{"days": 1, "content": {"email": REMINDER["email"]}}],
    )
    assert distribution_check_complete(d) == []
    distribution_launch(distribution=d, actor=partner_user_a)
    fanout_run(d.pk)
    sent_days_ago(d, 2)
    # when
    reminders_send()
    # then
    assert set(reminder_rows(d).values_list("channel", flat=True)) == {"email"}
    assert reminder_rows(d).count() == 2
    assert set(
        OutboxMessage.objects.filter(distribution_id=d.pk, reminder_index=0).values_list(
            "channel", flat=True
        )
    ) == {"email", "mailchimp"}


def test_the_command_schedules_the_tick_once(partner_a):
    # given
    queue = django_rq.get_queue("low")
    registry = queue.scheduled_job_registry
    for job_id in registry.get_job_ids():
        registry.remove(job_id, delete_job=True)
    first, second = StringIO(), StringIO()
    # when
    call_command("send_reminders", schedule=True, stdout=first)
    call_command("send_reminders", schedule=True, stdout=second)
    # then
    try:
        assert first.getvalue().strip() == "tick scheduled"
        assert second.getvalue().strip() == "tick already scheduled"
        assert registry.count == 1
    finally:
        for job_id in registry.get_job_ids():
            registry.remove(job_id, delete_job=True)
