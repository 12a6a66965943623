"""The metrics of one distribution (apps.distributions.selectors.distribution_metrics): every
number matches rows written by hand, other distributions never leak in, and the number of
queries does not grow with the audience."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.distributions.models import Distribution
from apps.distributions.selectors import (
    distribution_counts,
    distribution_metrics,
    status_label,
)
from tests.distributions import metrics_data as data


def counts(row) -> dict[str, int]:
    return {
        "queued": row.queued,
        "sent": row.sent,
        "delivered": row.delivered,
        "failed": row.failed,
        "skipped": row.skipped,
        "total": row.total,
    }


def test_metrics_match_the_rows_exactly(in_partner):
    # given a live distribution with every kind of outcome (see metrics_data.scenario)
    d = data.scenario()["distribution"]

    # when its metrics are read
    m = distribution_metrics(distribution_id=d.pk)

    # then audience, codes and redemptions are exact
    assert (m.audience_size, m.recipients_total, m.waiting) == (5, 5, 1)
    assert (m.codes_published, m.codes_redeemed) == (4, 1)
    assert m.redemption_rate == pytest.approx(0.25)
    assert m.redemption_rate_text == "25.0%"
    # and the first messages per channel, in the distribution's channel order
    assert [row.label for row in m.channels] == ["Email", "SMS"]
    email, sms = m.channels
    assert counts(email) == {
        "queued": 2,
        "sent": 3,
        "delivered": 1,
        "failed": 1,
        "skipped": 1,
        "total": 7,
    }
    assert counts(sms) == {
        "queued": 0,
        "sent": 1,
        "delivered": 0,
        "failed": 0,
        "skipped": 2,
        "total": 3,
    }
    assert counts(m.totals) == {
        "queued": 2,
        "sent": 4,
        "delivered": 1,
        "failed": 1,
        "skipped": 3,
        "total": 10,
    }
    # and the reminders apart from them
    assert [(r.label, r.sent, r.failed) for r in m.reminders] == [("Reminder 1", 1, 1)]
    assert m.reminders_sent == 1
    # and failures and skips grouped by reason, biggest group first, reminders included
    assert [(f.status, f.channel, f.error_key, f.count) for f in m.failures] == [
        ("skipped", "sms", "no_address", 2),
        ("failed", "email", "smtp_refused", 1),
        ("failed", "sms", "twilio_21211", 1),
        ("skipped", "email", "no_consent", 1),
    ]
    assert m.failures[1].sample == "550 mailbox full"
    # and the chart counts every message sent (reminders too) and the one redemption
    assert sum(m.chart.sent) == 5
    assert sum(m.chart.redeemed) == 1
    assert m.chart.granularity == "hour"


def test_metrics_of_a_distribution_with_nothing_yet(in_partner):
    # given a distribution launched a moment ago: no recipient, code or message yet
    d = data.distribution(audience_size=250)
    # when its metrics are read
    m = distribution_metrics(distribution_id=d.pk)
    # then every count is zero, the rate is unknown rather than 0 %, and channels are listed
    assert (m.audience_size, m.codes_published, m.codes_redeemed) == (250, 0, 0)
    assert m.redemption_rate is None and m.redemption_rate_text == "—"
    assert [(r.label, r.total) for r in m.channels] == [("Email", 0), ("SMS", 0)]
    assert m.failures == [] and m.reminders == [] and m.activity == []
    assert not m.chart.has_data


def test_unknown_distribution_raises_does_not_exist(in_partner):
    with pytest.raises(Distribution.DoesNotExist):
        distribution_metrics(distribution_id=987654)


def test_automatic_audience_is_the_customers_reached_so_far(in_partner):
    # given an automatic distribution (activation snapshots 0: no current members served)
    # that has reached three customers
    d = data.distribution(
        kind="automatic",
        audience="event",
        trigger_event="order.paid",
        channels=["email"],
        audience_size=0,
    )
    for _ in range(3):
        data.publish(d, data.customer())
    # when / then
    m = distribution_metrics(distribution_id=d.pk)
    assert (m.audience_size, m.codes_published) == (3, 3)


def test_query_count_does_not_grow_with_the_audience(in_partner):
    # given a small distribution, measured
    d = data.scenario()["distribution"]
    with CaptureQueriesContext(connection) as small:
        distribution_metrics(distribution_id=d.pk)
    # when it gets 20 more recipients, codes, messages and activity lines
    for n in range(20):
        who = data.customer()
        publication = data.publish(d, who)
        data.message(d, who, "email", "sent")
        data.message(d, who, "sms", "failed", error_key=f"e{n}")
        data.redeem(publication)
        data.activity(d, f"line {n}")
    with CaptureQueriesContext(connection) as big:
        m = distribution_metrics(distribution_id=d.pk)
    # then it takes the same handful of queries
    assert len(big) == len(small) <= 8
    assert m.codes_published == 24 and m.codes_redeemed == 21


def test_activity_is_the_latest_twenty_newest_first(in_partner):
    d = data.distribution()
    for n in range(25):
        data.activity(d, f"line {n}")
    m = distribution_metrics(distribution_id=d.pk)
    assert len(m.activity) == 20
    assert m.activity[0].message == "line 24" and m.activity[-1].message == "line 5"


def test_chart_buckets_per_hour_day_and_week(in_partner):
    now = timezone.now().replace(minute=30, second=0, microsecond=0)
    # given a distribution launched 3 hours ago with messages in its first and last hour
    d = data.distribution(launched_at=now - dt.timedelta(hours=3))
    who = data.customer()
    data.message(d, who, "email", "sent", sent_at=now - dt.timedelta(hours=3))
    data.message(d, who, "sms", "delivered", sent_at=now - dt.timedelta(minutes=10))
    data.message(d, who, "sms", "failed", sent_at=now - dt.timedelta(minutes=5))
    redemption_at = now - dt.timedelta(hours=2)
    data.redeem(data.publish(d, who), at=redemption_at)
    # when the chart is read now
    chart = distribution_metrics(distribution_id=d.pk, now=now).chart
    # then there are four hourly buckets, zeros where nothing happened; the failed
    # message is not counted as sent
    assert chart.granularity == "hour"
    assert chart.sent == [1, 0, 0, 1]
    assert chart.redeemed == [0, 1, 0, 0]
    assert len(chart.rows()) == 4

    # given one launched 10 days ago: daily buckets
    d = data.distribution(launched_at=now - dt.timedelta(days=10))
    data.message(d, who, "email", "sent", sent_at=now - dt.timedelta(days=9))
    chart = distribution_metrics(distribution_id=d.pk, now=now).chart
    assert chart.granularity == "day"
    assert len(chart.labels) == 11 and sum(chart.sent) == 1

    # given one launched a year ago: weekly buckets, at most two years of them
    d = data.distribution(launched_at=now - dt.timedelta(days=365))
    data.message(d, who, "email", "sent", sent_at=now - dt.timedelta(days=100))
    chart = distribution_metrics(distribution_id=d.pk, now=now).chart
    assert chart.granularity == "week"
    assert 52 <= len(chart.labels) <= 54 and sum(chart.sent) == 1
    assert chart.labels[0].startswith("Week of ")


def test_draft_has_an_empty_chart(in_partner):
    d = data.distribution(status="draft", step=2)
    m = distribution_metrics(distribution_id=d.pk)
    assert m.chart.labels == [] and not m.polling


def test_list_counts_are_grouped_per_distribution(in_partner):
    # given the scenario (its other distribution has 1 sent message and 1 redeemed code)
    rows = data.scenario()
    d, other = rows["distribution"], rows["other"]
    empty = data.distribution()
    # when counted together, in two queries
    with CaptureQueriesContext(connection) as queries:
        result = distribution_counts(distribution_ids=[d.pk, other.pk, empty.pk])
    # then sent counts first messages only (not reminders) and redeemed the codes
    assert (result[d.pk].sent, result[d.pk].redeemed) == (4, 1)
    assert (result[other.pk].sent, result[other.pk].redeemed) == (1, 1)
    assert (result[empty.pk].sent, result[empty.pk].redeemed) == (0, 0)
    assert len(queries) == 2


def test_status_label_names_an_empty_pool(in_partner):
    paused = data.distribution(status="paused", pause_reason="pool_empty")
    by_user = data.distribution(status="paused", pause_reason="user")
    assert status_label(paused) == "Paused: pool empty"
    assert status_label(by_user) == "Paused"
