"""Builders shared by the pipeline tests (fan-out, automatic, reminders). Call them inside
`schema_context("p_alpha")`. Rows are made set-based (bulk_create) so a test with a few hundred
customers stays fast."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import redis
from django.conf import settings
from django.db.models import Count

from apps.campaigns.models import Campaign, Voucher
from apps.customers.models import Customer, Publication, Segment
from apps.distributions.models import Distribution, Recipient
from apps.messaging.models import OutboxMessage
from tests.factories import CampaignFactory, DistributionFactory, SegmentFactory

EMAIL = {
    "subject": "A gift for you, {{ customer.first_name }}",
    "html": "<p>Your code: <strong>{{ voucher.code }}</strong></p>",
}
SMS = {"text": "Your code {{ voucher.code }}"}
_serial = itertools.count(1)


def clear_pipeline_flags() -> None:
    """The debounce flags live in Redis beyond a test's transaction: start clean."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter("distributions:*")) + list(client.scan_iter("segments:*"))
    if keys:
        client.delete(*keys)


def customers(n: int, *, email_consent: bool = True, sms_consent: bool = True) -> list[Customer]:
    tag = uuid.uuid4().hex[:8]
    return Customer.objects.bulk_create(
        [
            Customer(
                source_id=f"c-{tag}-{i}",
                name=f"Customer {i}",
                email=f"c{i}-{tag}@example.com",
                phone=f"+1415555{next(_serial) % 10_000:04d}",
                email_consent=email_consent,
                sms_consent=sms_consent,
            )
            for i in range(n)
        ]
    )


def campaign(codes: int) -> Campaign:
    made = CampaignFactory(name=f"Pool {uuid.uuid4().hex[:8]}")
    vouchers_add(made, codes)
    return made


def vouchers_add(target: Campaign, n: int) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    Voucher.objects.bulk_create(
        [Voucher(campaign=target, code=f"P{tag}{i:05d}", redemption_limit=1) for i in range(n)]
    )


def static_segment(members: list[Customer]) -> Segment:
    return SegmentFactory(name=f"Segment {uuid.uuid4().hex[:8]}", members=members)


def distribution(**fields: Any) -> Distribution:
    """A complete draft: manual, email + SMS, to `segment`, from `campaign`."""
    values: dict[str, Any] = {
        "name": f"Spring {uuid.uuid4().hex[:8]}",
        "kind": Distribution.Kind.MANUAL,
        "step": 7,
        "channels": ["email", "sms"],
        "content": {"email": dict(EMAIL), "sms": dict(SMS)},
        "audience": Distribution.Audience.SEGMENT,
    }
    values.update(fields)
    return DistributionFactory(**values)


def tally(d: Distribution) -> dict[str, Any]:
    """What a distribution produced: codes per customer, messages per (customer, channel)."""
    pubs = Publication.objects.filter(distribution_id=d.pk)
    msgs = OutboxMessage.objects.filter(distribution_id=d.pk, reminder_index=0)
    return {
        "publications": pubs.count(),
        "max_codes_per_customer": max(
            (r["n"] for r in pubs.values("customer_id").annotate(n=Count("id"))), default=0
        ),
        "messages": msgs.count(),
        "max_messages_per_customer_channel": max(
            (r["n"] for r in msgs.values("customer_id", "channel").annotate(n=Count("id"))),
            default=0,
        ),
        "by_channel": dict(
            msgs.values_list("channel").annotate(n=Count("id")).values_list("channel", "n")
        ),
        "waiting": Recipient.objects.filter(distribution=d).exclude(status="messaged").count(),
        "messaged": Recipient.objects.filter(distribution=d, status="messaged").count(),
    }
