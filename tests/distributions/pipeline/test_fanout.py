"""The manual fan-out: launch → one code and one message per channel for every recipient,
exact when run twice, killed halfway, or short of codes; plus the services around it (launch
checks, pause, resume, archive, duplicate)."""

from __future__ import annotations

import django_rq
import pytest
from django_tenants.utils import schema_context

from apps.customers.models import Publication
from apps.distributions.models import Activity, Distribution, DistributionCustomer, Recipient
from apps.distributions.pipeline import fanout as fanout_module
from apps.distributions.pipeline.fanout import distributions_resume_pool_paused, fanout_run
from apps.distributions.services import (
    DistributionError,
    audience_size,
    distribution_archive,
    distribution_check_complete,
    distribution_delete,
    distribution_duplicate,
    distribution_launch,
    distribution_pause,
    distribution_resume,
)
from apps.messaging.models import OutboxMessage
from apps.messaging.sending import outbox_send
from tests.distributions import pipeline_setup as setup


@pytest.fixture(autouse=True)
def _clean_flags():
    setup.clear_pipeline_flags()
    yield
    setup.clear_pipeline_flags()


def test_launch_publishes_one_code_and_queues_one_message_per_channel_for_every_member(
    partner_a, partner_user_a, run_jobs, django_capture_on_commit_callbacks
):
    # given
    with schema_context("p_alpha"):
        people = setup.customers(30)
        d = setup.distribution(segment=setup.static_segment(people), campaign=setup.campaign(40))
        # when
        with django_capture_on_commit_callbacks(execute=True):
            distribution_launch(distribution=d, actor=partner_user_a)
    run_jobs()
    # then
    with schema_context("p_alpha"):
        d.refresh_from_db()
        got = setup.tally(d)
        assert d.status == "completed" and d.completed_at is not None
        assert d.audience_size == 30
        assert got["publications"] == 30 and got["max_codes_per_customer"] == 1
        assert got["by_channel"] == {"email": 30, "sms": 30}
        assert got["max_messages_per_customer_channel"] == 1
        assert got["messaged"] == 30 and got["waiting"] == 0
        # Each message carries the recipient's own code.
        mismatched = OutboxMessage.objects.filter(distribution_id=d.pk).exclude(
            voucher_id__in=Recipient.objects.filter(distribution=d).values("voucher_id")
        )
        assert not mismatched.exists()
        for r in Recipient.objects.filter(distribution=d).select_related("publication"):
            assert r.publication.voucher_id == r.voucher_id
            assert r.publication.customer_id == r.customer_id
            assert r.messaged_at is not None
        assert set(
            OutboxMessage.objects.filter(distribution_id=d.pk).values_list("status", flat=True)
        ) == {"pending"}
        kinds = list(Activity.objects.filter(distribution=d).values_list("kind", flat=True))
        assert sorted(kinds) == ["audience", "completed", "launched"]
        assert "30 codes published and 60 messages queued" in (
            Activity.objects.get(distribution=d, kind="completed").message
        )


def test_running_the_fanout_twice_adds_nothing(partner_user_a, in_partner):
    people = setup.customers(25)
    d = setup.distribution(segment=setup.static_segment(people), campaign=setup.campaign(30))
    distribution_launch(distribution=d, actor=partner_user_a)
    first = fanout_run(d.pk, batch_size=7)
    # when: a duplicated job, and one forced through a distribution set live again
    second = fanout_run(d.pk, batch_size=7)
    Distribution.objects.filter(pk=d.pk).update(status="live")
    third = fanout_run(d.pk, batch_size=7)
    # then
    got = setup.tally(d)
    assert first.completed and first.batches == 4 and first.published == 25
    assert second.stopped and second.published == 0
    assert third.published == 0 and third.queued == 0
    assert got["publications"] == 25 and got["max_codes_per_customer"] == 1
    assert got["messages"] == 50 and got["max_messages_per_customer_channel"] == 1
    assert Recipient.objects.filter(distribution=d).count() == 25


def test_a_fanout_killed_after_one_batch_resumes_with_what_is_left(partner_user_a, in_partner):
    people = setup.customers(23)
    d = setup.distribution(segment=setup.static_segment(people), campaign=setup.campaign(30))
    distribution_launch(distribution=d, actor=partner_user_a)
    partial = fanout_run(d.pk, batch_size=10, max_batches=1)
    halfway = setup.tally(d)
    # when
    rest = fanout_run(d.pk, batch_size=10)
    # then
    d.refresh_from_db()
    got = setup.tally(d)
    assert partial.stopped and not partial.completed
    assert (halfway["messaged"], halfway["waiting"], halfway["messages"]) == (10, 13, 20)
    assert rest.completed and rest.published == 13
    assert d.status == "completed"
    assert got["publications"] == 23 and got["max_codes_per_customer"] == 1
    assert got["messages"] == 46 and got["max_messages_per_customer_channel"] == 1


def test_a_batch_that_dies_midway_is_undone_whole_and_the_rerun_is_exact(
    partner_user_a, monkeypatch, in_partner
):
    people = setup.customers(20)
    d = setup.distribution(segment=setup.static_segment(people), campaign=setup.campaign(20))
    distribution_launch(distribution=d, actor=partner_user_a)
    real = fanout_module.outbox_insert_select
    calls = {"n": 0}

    def dying(**kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("worker killed")
        return real(**kwargs)

    monkeypatch.setattr(fanout_module, "outbox_insert_select", dying)
    with pytest.raises(RuntimeError):
        fanout_run(d.pk, batch_size=8)
    after_crash = setup.tally(d)
    monkeypatch.setattr(fanout_module, "outbox_insert_select", real)
    # when
    rerun = fanout_run(d.pk, batch_size=8)
    # then: the crashed batch left no code and no message behind
    assert after_crash["publications"] == 8 and after_crash["messages"] == 16
    assert after_crash["waiting"] == 12
    assert rerun.completed and rerun.published == 12
    got = setup.tally(d)
    assert got["publications"] == 20 and got["max_codes_per_customer"] == 1
    assert got["messages"] == 40 and got["max_messages_per_customer_channel"] == 1
    # Every code went to exactly one customer: 20 codes published, all different.
    assert (
        Publication.objects.filter(distribution_id=d.pk).values("voucher").distinct().count() == 20
    )


def test_a_pool_smaller_than_the_audience_pauses_and_a_top_up_resumes_it(
    partner_a, partner_user_a, run_jobs, django_capture_on_commit_callbacks
):
    # given
    with schema_context("p_alpha"):
        people = setup.customers(30)
        pool = setup.campaign(12)
        d = setup.distribution(segment=setup.static_segment(people), campaign=pool)
        distribution_launch(distribution=d, actor=partner_user_a)
        # when
        result = fanout_run(d.pk, batch_size=5)
        # then: paused, the 18 without a code still wait
        d.refresh_from_db()
        got = setup.tally(d)
        assert result.paused
        assert (d.status, d.pause_reason) == ("paused", "pool_empty")
        assert got["publications"] == 12 and got["messaged"] == 12 and got["waiting"] == 18
        assert got["messages"] == 24
        paused = Activity.objects.get(distribution=d, kind="paused")
        assert paused.message == "Paused: the pool is empty — 18 customers wait for a code."
        # a person cannot resume it while the pool is empty, and nothing resumes by itself
        with pytest.raises(DistributionError) as refused:
            distribution_resume(distribution=d, actor=partner_user_a)
        assert refused.value.key == "pool_empty"
        assert distributions_resume_pool_paused() == []
        # when: the top-up arrives
        setup.vouchers_add(pool, 20)
        with django_capture_on_commit_callbacks(execute=True):
            resumed = distributions_resume_pool_paused()
    run_jobs()
    # then
    with schema_context("p_alpha"):
        d.refresh_from_db()
        got = setup.tally(d)
        assert resumed == [d.pk]
        assert d.status == "completed"
        assert got["publications"] == 30 and got["max_codes_per_customer"] == 1
        assert got["messages"] == 60 and got["max_messages_per_customer_channel"] == 1
        assert Activity.objects.filter(distribution=d, kind="resumed").exists()


def test_customers_without_consent_or_address_get_a_code_and_skipped_messages_with_reason(
    partner_user_a, in_partner
):
    ok = setup.customers(3)
    no_email = setup.customers(2, email_consent=False)
    no_phone = setup.customers(2)
    for c in no_phone:
        c.phone = ""
        c.save(update_fields=["phone"])
    d = setup.distribution(
        segment=setup.static_segment(ok + no_email + no_phone), campaign=setup.campaign(10)
    )
    distribution_launch(distribution=d, actor=partner_user_a)
    # when
    fanout_run(d.pk)
    # then
    rows = OutboxMessage.objects.filter(distribution_id=d.pk)
    skipped = {
        (m.customer_id, m.channel): (m.error_key, m.last_error)
        for m in rows.filter(status="skipped")
    }
    assert set(skipped) == {(c.pk, "email") for c in no_email} | {(c.pk, "sms") for c in no_phone}
    assert skipped[(no_email[0].pk, "email")][0] == "no_consent"
    assert "not agreed" in skipped[(no_email[0].pk, "email")][1]
    assert skipped[(no_phone[0].pk, "sms")][0] == "no_address"
    assert rows.filter(status="pending").count() == 14 - 4
    assert Publication.objects.filter(distribution_id=d.pk).count() == 7


def test_double_launch_enqueues_one_fanout(
    partner_a, partner_user_a, run_jobs, django_capture_on_commit_callbacks
):
    # given: two requests loaded the same draft (a double click)
    with schema_context("p_alpha"):
        people = setup.customers(5)
        d = setup.distribution(segment=setup.static_segment(people), campaign=setup.campaign(5))
        first_click = Distribution.objects.get(pk=d.pk)
        second_click = Distribution.objects.get(pk=d.pk)
        # when
        with django_capture_on_commit_callbacks(execute=True):
            one = distribution_launch(distribution=first_click, actor=partner_user_a)
            two = distribution_launch(distribution=second_click, actor=partner_user_a)
    queued = [
        job
        for job in django_rq.get_queue("default").get_jobs()
        if job.args[0]["func"].endswith("fanout_job") and job.args[0]["args"] == [d.pk]
    ]
    run_jobs()
    # then
    with schema_context("p_alpha"):
        assert len(queued) == 1
        assert one.pk == two.pk and two.status == "live"
        assert Activity.objects.filter(distribution=d, kind="launched").count() == 1
        got = setup.tally(d)
        assert got["publications"] == 5 and got["messages"] == 10


def test_launch_to_chosen_customers(partner_user_a, in_partner):
    people = setup.customers(4)
    d = setup.distribution(audience="customers", campaign=setup.campaign(4))
    DistributionCustomer.objects.bulk_create(
        [DistributionCustomer(distribution=d, customer=c) for c in people[:3]]
    )
    # when
    size = audience_size(d)
    distribution_launch(distribution=d, actor=partner_user_a)
    fanout_run(d.pk)
    # then
    got = setup.tally(d)
    assert size == 3
    assert got["publications"] == 3 and got["messages"] == 6
    assert not Publication.objects.filter(customer=people[3]).exists()


def test_a_paused_distribution_stops_and_resume_finishes_it(
    partner_a, partner_user_a, run_jobs, django_capture_on_commit_callbacks
):
    # given: paused by a person after one batch
    with schema_context("p_alpha"):
        people = setup.customers(12)
        d = setup.distribution(segment=setup.static_segment(people), campaign=setup.campaign(12))
        distribution_launch(distribution=d, actor=partner_user_a)
        fanout_run(d.pk, batch_size=5, max_batches=1)
        distribution_pause(distribution=d, actor=partner_user_a)
        # when
        stopped = fanout_run(d.pk, batch_size=5)
        held = setup.tally(d)
        with django_capture_on_commit_callbacks(execute=True):
            distribution_resume(distribution=d, actor=partner_user_a)
    run_jobs()
    # then
    with schema_context("p_alpha"):
        d.refresh_from_db()
        assert stopped.stopped and stopped.published == 0
        assert held["messaged"] == 5 and held["waiting"] == 7
        assert d.status == "completed"
        assert setup.tally(d)["publications"] == 12
        # a top-up never resumes a distribution a person paused
        assert (
            Activity.objects.filter(distribution=d, kind="paused")
            .get()
            .message.startswith("Paused by staff@alpha.test")
        )


def test_a_top_up_does_not_resume_a_distribution_paused_by_a_person(partner_user_a, in_partner):
    people = setup.customers(4)
    pool = setup.campaign(2)
    d = setup.distribution(segment=setup.static_segment(people), campaign=pool)
    distribution_launch(distribution=d, actor=partner_user_a)
    fanout_run(d.pk)
    distribution_pause(distribution=d, actor=partner_user_a)
    setup.vouchers_add(pool, 5)
    # when
    resumed = distributions_resume_pool_paused()
    # then
    d.refresh_from_db()
    assert resumed == []
    assert (d.status, d.pause_reason) == ("paused", "user")


def test_an_inactive_campaign_pauses_the_fanout_with_its_reason(partner_user_a, in_partner):
    people = setup.customers(3)
    pool = setup.campaign(3)
    d = setup.distribution(segment=setup.static_segment(people), campaign=pool)
    distribution_launch(distribution=d, actor=partner_user_a)
    pool.active = False
    pool.save(update_fields=["active"])
    # when
    result = fanout_run(d.pk)
    # then
    d.refresh_from_db()
    assert result.paused
    assert (d.status, d.pause_reason) == ("paused", "campaign")
    assert "inactive" in Activity.objects.get(distribution=d, kind="paused").message
    assert setup.tally(d)["waiting"] == 3
    with pytest.raises(DistributionError) as refused:
        distribution_resume(distribution=d, actor=partner_user_a)
    assert refused.value.key == "campaign_unusable"


def test_archive_stops_a_live_fanout(partner_user_a, in_partner):
    people = setup.customers(6)
    d = setup.distribution(segment=setup.static_segment(people), campaign=setup.campaign(6))
    distribution_launch(distribution=d, actor=partner_user_a)
    fanout_run(d.pk, batch_size=2, max_batches=1)
    # when
    distribution_archive(distribution=d, actor=partner_user_a)
    result = fanout_run(d.pk, batch_size=2)
    # then
    assert d.status == "archived"
    assert result.stopped and setup.tally(d)["publications"] == 2
    with pytest.raises(DistributionError) as refused:
        distribution_pause(distribution=d, actor=partner_user_a)
    assert refused.value.key == "distribution_not_live"


def test_duplicate_makes_a_fresh_draft_without_pipeline_state(partner_user_a, in_partner):
    people = setup.customers(2)
    d = setup.distribution(
        name="Spring",
        segment=setup.static_segment(people),
        campaign=setup.campaign(2),
        reminders=[{"days": 3, "content": {"email": setup.EMAIL, "sms": setup.SMS}}],
    )
    distribution_launch(distribution=d, actor=partner_user_a)
    setup.distribution(name="Copy of Spring")
    # when
    copy = distribution_duplicate(distribution=d, actor=partner_user_a)
    # then
    d.refresh_from_db()
    assert "template_id" in d.content["email"]
    assert copy.name == "Copy of Spring (2)"
    assert (copy.status, copy.step, copy.launched_at) == ("draft", 7, None)
    assert copy.content == {"email": setup.EMAIL, "sms": setup.SMS}
    assert copy.reminders == [{"days": 3, "content": {"email": setup.EMAIL, "sms": setup.SMS}}]
    assert (copy.segment_id, copy.campaign_id) == (d.segment_id, d.campaign_id)
    assert distribution_check_complete(copy) == []


def test_queued_messages_are_sent_with_each_customers_own_code(partner_user_a, in_partner):
    people = setup.customers(2)
    d = setup.distribution(segment=setup.static_segment(people), campaign=setup.campaign(2))
    distribution_launch(distribution=d, actor=partner_user_a)
    fanout_run(d.pk)
    # when
    outbox_send("email")
    outbox_send("sms")
    # then
    for r in Recipient.objects.filter(distribution=d).select_related("voucher", "customer"):
        sent = {
            m.channel: m
            for m in OutboxMessage.objects.filter(distribution_id=d.pk, customer=r.customer)
        }
        assert {m.status for m in sent.values()} == {"sent"}
        assert r.voucher.code in sent["sms"].body_text
        assert r.voucher.code in sent["email"].body_html
        assert sent["email"].subject == "A gift for you, Customer"


def test_only_a_draft_can_be_deleted(partner_user_a, in_partner):
    people = setup.customers(1)
    draft = setup.distribution(segment=setup.static_segment(people), campaign=setup.campaign(1))
    live = setup.distribution(segment=draft.segment, campaign=draft.campaign)
    distribution_launch(distribution=live, actor=partner_user_a)
    # when
    distribution_delete(distribution=draft, actor=partner_user_a)
    with pytest.raises(DistributionError) as refused:
        distribution_delete(distribution=live, actor=partner_user_a)
    # then
    assert not Distribution.objects.filter(pk=draft.pk).exists()
    assert refused.value.key == "distribution_not_draft"
    assert Distribution.objects.filter(pk=live.pk, status="live").exists()


def test_launch_evaluates_a_segment_never_evaluated(partner_a):
    """A segment built inline in the wizard may not have been evaluated when the distribution
    is launched: launching evaluates it first, so the audience is not empty."""
    from apps.customers.models import Customer, Segment
    from apps.distributions.models import Distribution
    from apps.distributions.services import distribution_launch
    from tests.factories import CampaignFactory, VoucherFactory

    with schema_context(partner_a.schema_name):
        # given an active segment matching two customers, never evaluated
        for n in range(2):
            Customer.objects.create(
                source_id=f"fr-{n}", country="FR", email=f"f{n}@x.test", email_consent=True
            )
        segment = Segment.objects.create(
            name="French",
            kind=Segment.Kind.ACTIVE,
            filter={
                "match": "all",
                "conditions": [{"field": "country", "op": "is", "value": "FR"}],
            },
        )
        campaign = CampaignFactory()
        for n in range(3):
            VoucherFactory(campaign=campaign, code=f"FR-{n}")
        distribution = Distribution.objects.create(
            name="To France",
            kind="manual",
            step=7,
            channels=["email"],
            content={"email": {"subject": "Hi", "html": "<p>{{ voucher.code }}</p>"}},
            audience="segment",
            segment=segment,
            campaign=campaign,
        )
        # when
        distribution_launch(distribution=distribution, actor=None)
        # then
        segment.refresh_from_db()
        distribution.refresh_from_db()
        assert segment.evaluated_at is not None
        assert distribution.audience_size == 2


def test_a_brand_top_up_resumes_a_distribution_paused_for_an_empty_pool(
    partner_a, partner_user_a, brand_admin, run_jobs, django_capture_on_commit_callbacks
):
    """The whole path: the brand's top-up job adds codes to the campaign and the paused
    distribution picks up where it stopped, with no one resuming it by hand."""
    from apps.brand.jobs import allocation_generate
    from apps.brand.services import allocation_create
    from apps.campaigns.models import Campaign
    from tests.factories import ProgramFactory

    # given a program allocated with 5 codes and a distribution to 8 customers on it
    program = ProgramFactory(name="Top-up", code_pattern="TOP-####-####")
    first = allocation_create(actor=brand_admin, program=program, partner=partner_a, quantity=5)
    with schema_context("p_alpha"):
        allocation_generate(first.pk)
        pool = Campaign.objects.get(program_id=program.pk)
        people = setup.customers(8)
        d = setup.distribution(segment=setup.static_segment(people), campaign=pool)
        distribution_launch(distribution=d, actor=partner_user_a)
        fanout_run(d.pk)
        d.refresh_from_db()
        assert (d.status, d.pause_reason) == ("paused", "pool_empty")
    # when the brand tops up the pool and a worker runs the jobs
    top_up = allocation_create(actor=brand_admin, program=program, partner=partner_a, quantity=5)
    with schema_context("p_alpha"), django_capture_on_commit_callbacks(execute=True):
        allocation_generate(top_up.pk)
    run_jobs()
    # then every customer has a code and the distribution is complete
    with schema_context("p_alpha"):
        d.refresh_from_db()
        got = setup.tally(d)
        assert d.status == "completed"
        assert got["publications"] == 8 and got["waiting"] == 0
