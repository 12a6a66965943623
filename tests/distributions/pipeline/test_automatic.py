"""Automatic distributions: events from the log (an order paid through the API, a customer
entering a segment) serve each customer once per distribution, however often the event comes."""

from __future__ import annotations

import datetime as dt
import json

import django_rq
import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.accounts.apikeys import api_key_issue
from apps.customers.events import event_record
from apps.customers.models import Customer, Event, EventConsumption, Publication
from apps.customers.segments.services import segment_members_add
from apps.distributions.models import Activity, Distribution, Recipient
from apps.distributions.pipeline.automatic import (
    consumer_name,
    distribution_consume,
    events_after,
    settled_after,
)
from apps.distributions.pipeline.fanout import distributions_resume_pool_paused
from apps.distributions.services import distribution_activate, distribution_pause
from apps.messaging.models import OutboxMessage
from tests.distributions import pipeline_setup as setup


@pytest.fixture(autouse=True)
def _listening():
    setup.clear_pipeline_flags()
    yield
    setup.clear_pipeline_flags()


def on_order_paid(campaign, **fields) -> Distribution:
    return setup.distribution(
        kind="automatic",
        audience="event",
        trigger_event="order.paid",
        campaign=campaign,
        **fields,
    )


def post_order(client, key, body) -> tuple[int, dict]:
    response = client.post(
        "/v1/orders",
        json.dumps(body),
        content_type="application/json",
        HTTP_X_APP_ID=key.key.app_id,
        HTTP_X_APP_TOKEN=key.token,
    )
    return response.status_code, response.json()


def test_an_order_paid_through_the_api_serves_the_customer_once(
    client, partner_a, partner_user_a, run_jobs, django_capture_on_commit_callbacks
):
    # given: a live distribution on order.paid, and a customer who agreed to messages
    key = api_key_issue(partner=partner_a, name="shop")
    with schema_context("p_alpha"):
        ann = setup.customers(1)[0]
        d = on_order_paid(setup.campaign(5))
        distribution_activate(distribution=d, actor=partner_user_a)
    # when: the order is created, then paid; then a second order is paid
    with django_capture_on_commit_callbacks(execute=True):
        status, order = post_order(
            client,
            key,
            {"source_id": "o-1", "amount": 1000, "customer": {"source_id": ann.source_id}},
        )
    run_jobs()
    with schema_context("p_alpha"):
        before_paid = Publication.objects.filter(distribution_id=d.pk).count()
    with django_capture_on_commit_callbacks(execute=True):
        status_paid, _ = post_order(client, key, {"id": order["id"], "status": "PAID"})
    run_jobs()
    with django_capture_on_commit_callbacks(execute=True):
        status_second, _ = post_order(
            client,
            key,
            {
                "source_id": "o-2",
                "amount": 500,
                "status": "PAID",
                "customer": {"source_id": ann.source_id},
            },
        )
    run_jobs()
    # then
    assert (status, status_paid, status_second) == (200, 200, 200)
    with schema_context("p_alpha"):
        got = setup.tally(d)
        assert before_paid == 0  # order.created does not trigger an order.paid distribution
        assert got["publications"] == 1 and got["by_channel"] == {"email": 1, "sms": 1}
        assert Publication.objects.get(distribution_id=d.pk).customer_id == ann.pk
        assert OutboxMessage.objects.filter(distribution_id=d.pk, status="pending").count() == 2
        paid = Event.objects.filter(customer=ann, type="order.paid")
        assert paid.count() == 2
        consumed = EventConsumption.objects.filter(consumer=consumer_name(d.pk))
        assert set(consumed.values_list("event_id", flat=True)) == set(
            paid.values_list("pk", flat=True)
        )
        recipient = Recipient.objects.get(distribution=d)
        assert recipient.event_id == paid.order_by("pk").first().pk
        assert recipient.status == "messaged"
        d.refresh_from_db()
        assert d.status == "live"


def test_a_redelivered_event_does_not_serve_the_customer_again(partner_user_a, in_partner):
    ann = setup.customers(1)[0]
    d = on_order_paid(setup.campaign(5))
    distribution_activate(distribution=d, actor=partner_user_a)
    event = event_record(customer=ann, type="order.paid", payload={"order": "o-1"})
    first = distribution_consume(d.pk)
    # when: the consumption is lost (as if re-delivered) and the consumer runs again
    EventConsumption.objects.filter(event=event).delete()
    again = distribution_consume(d.pk)
    rerun = distribution_consume(d.pk)
    # then
    got = setup.tally(d)
    assert (first.events, first.published) == (1, 1)
    assert (again.events, again.published, again.queued) == (1, 0, 0)
    assert rerun.events == 0
    assert got["publications"] == 1 and got["messages"] == 2


def test_events_from_before_activation_or_of_other_types_do_not_fire(partner_user_a, in_partner):
    early, other, late = setup.customers(3)
    d = on_order_paid(setup.campaign(5))
    event_record(customer=early, type="order.paid", payload={})
    distribution_activate(distribution=d, actor=partner_user_a)
    event_record(customer=other, type="order.canceled", payload={})
    event_record(customer=late, type="order.paid", payload={})
    # when
    distribution_consume(d.pk)
    # then
    served = set(
        Publication.objects.filter(distribution_id=d.pk).values_list("customer_id", flat=True)
    )
    assert served == {late.pk}


def test_a_burst_of_events_queues_one_consume_job(
    partner_user_a, django_capture_on_commit_callbacks, in_partner
):
    people = setup.customers(3)
    d = on_order_paid(setup.campaign(5))
    distribution_activate(distribution=d, actor=partner_user_a)
    queue = django_rq.get_queue("default")
    queue.empty()
    # when
    with django_capture_on_commit_callbacks(execute=True):
        for person in people:
            event_record(customer=person, type="order.paid", payload={})
    # then
    jobs = [j for j in queue.get_jobs() if j.args[0]["func"].endswith("consume_all_job")]
    assert len(jobs) == 1
    assert jobs[0].args[0]["schema_name"] == "p_alpha"
    queue.empty()


def test_no_job_is_queued_without_a_live_automatic_distribution(
    partner_user_a, django_capture_on_commit_callbacks, in_partner
):
    ann = setup.customers(1)[0]
    d = on_order_paid(setup.campaign(5))
    distribution_activate(distribution=d, actor=partner_user_a)
    distribution_pause(distribution=d, actor=partner_user_a)
    queue = django_rq.get_queue("default")
    queue.empty()
    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        event_record(customer=ann, type="order.paid", payload={})
    # then
    funcs = [j.args[0]["func"] for j in queue.get_jobs()]
    assert "apps.distributions.jobs.consume_all_job" not in funcs
    assert len(callbacks) >= 1  # (segment re-evaluation is still scheduled)


def test_entering_the_segment_fires_for_that_segment_only(
    partner_a, partner_user_a, run_jobs, django_capture_on_commit_callbacks
):
    # given: an automatic distribution on entering "vip"; a customer joins "other"
    with schema_context("p_alpha"):
        ann, bob, cy = setup.customers(3)
        vip = setup.static_segment([])
        other = setup.static_segment([])
        d = setup.distribution(
            kind="automatic", audience="segment", segment=vip, campaign=setup.campaign(5)
        )
        distribution_activate(distribution=d, actor=partner_user_a)
        # when
        with django_capture_on_commit_callbacks(execute=True):
            segment_members_add(segment=vip, customer_ids=[ann.pk, bob.pk])
            segment_members_add(segment=other, customer_ids=[cy.pk])
    run_jobs()
    # then
    with schema_context("p_alpha"):
        served = set(
            Publication.objects.filter(distribution_id=d.pk).values_list("customer_id", flat=True)
        )
        assert served == {ann.pk, bob.pk}
        assert setup.tally(d)["messages"] == 4


def test_activation_with_current_members_serves_them_and_stays_live(
    partner_a, partner_user_a, run_jobs, django_capture_on_commit_callbacks
):
    # given
    with schema_context("p_alpha"):
        members = setup.customers(4)
        newcomer = setup.customers(1)[0]
        vip = setup.static_segment(members)
        d = setup.distribution(
            kind="automatic",
            audience="segment",
            segment=vip,
            include_current_members=True,
            campaign=setup.campaign(10),
        )
        # when
        with django_capture_on_commit_callbacks(execute=True):
            distribution_activate(distribution=d, actor=partner_user_a)
    run_jobs()
    with schema_context("p_alpha"), django_capture_on_commit_callbacks(execute=True):
        segment_members_add(segment=vip, customer_ids=[newcomer.pk, members[0].pk])
    run_jobs()
    # then
    with schema_context("p_alpha"):
        d.refresh_from_db()
        got = setup.tally(d)
        assert d.status == "live" and d.audience_size == 4
        assert got["publications"] == 5 and got["max_codes_per_customer"] == 1
        assert got["messages"] == 10
        assert "4 current members" in Activity.objects.get(distribution=d, kind="activated").message


def test_an_empty_pool_pauses_an_automatic_distribution_and_a_top_up_serves_the_waiting(
    partner_a, partner_user_a, run_jobs, django_capture_on_commit_callbacks
):
    # given: one code, three paying customers
    with schema_context("p_alpha"):
        people = setup.customers(3)
        pool = setup.campaign(1)
        d = on_order_paid(pool)
        distribution_activate(distribution=d, actor=partner_user_a)
        for person in people:
            event_record(customer=person, type="order.paid", payload={})
        # when
        result = distribution_consume(d.pk)
        d.refresh_from_db()
        paused = (d.status, d.pause_reason, setup.tally(d))
        setup.vouchers_add(pool, 5)
        with django_capture_on_commit_callbacks(execute=True):
            distributions_resume_pool_paused()
    run_jobs()
    # then
    with schema_context("p_alpha"):
        d.refresh_from_db()
        assert result.paused and result.events == 3
        assert paused[:2] == ("paused", "pool_empty")
        assert paused[2]["publications"] == 1 and paused[2]["waiting"] == 2
        assert d.status == "live"
        got = setup.tally(d)
        assert got["publications"] == 3 and got["max_codes_per_customer"] == 1
        assert got["messages"] == 6


def test_activating_a_manual_distribution_is_refused(partner_user_a, in_partner):
    d = setup.distribution(segment=setup.static_segment([]), campaign=setup.campaign(1))
    # when
    from apps.distributions.services import DistributionError

    with pytest.raises(DistributionError) as refused:
        distribution_activate(distribution=d, actor=partner_user_a)
    # then
    d.refresh_from_db()
    assert refused.value.key == "wrong_kind"
    assert d.status == "draft"
    assert not Customer.objects.filter(
        pk__in=Recipient.objects.values("customer_id"),
    ).exists()


def test_a_round_scans_only_events_after_the_settled_ones(partner_user_a, in_partner):
    old, new = setup.customers(2)
    d = on_order_paid(setup.campaign(5))
    distribution_activate(distribution=d, actor=partner_user_a)
    first = event_record(customer=old, type="order.paid", payload={})
    distribution_consume(d.pk)
    Event.objects.filter(pk=first.pk).update(created_at=timezone.now() - dt.timedelta(hours=1))
    second = event_record(customer=new, type="order.paid", payload={})
    # when
    start = settled_after(d)
    distribution_consume(d.pk)
    # then
    assert events_after(d) < first.pk
    assert start == first.pk < second.pk
    served = set(
        Publication.objects.filter(distribution_id=d.pk).values_list("customer_id", flat=True)
    )
    assert served == {old.pk, new.pk}
