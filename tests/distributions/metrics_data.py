"""Rows for the metrics and page tests of distributions, created directly (no pipeline), so
every expected number is written down in the test. Use inside the partner's schema_context."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from django.utils import timezone

from apps.customers.models import Customer, Publication
from apps.distributions.models import Activity, Distribution, Recipient
from apps.redemptions.models import Redemption
from tests.factories import (
    ActivityFactory,
    CampaignFactory,
    CustomerFactory,
    DistributionFactory,
    OutboxMessageFactory,
    PublicationFactory,
    RecipientFactory,
    RedemptionFactory,
)

_seq = itertools.count(1)


def distribution(**fields: Any) -> Distribution:
    defaults: dict[str, Any] = {
        "name": f"Distribution {next(_seq)}",
        "kind": Distribution.Kind.MANUAL,
        "status": Distribution.Status.LIVE,
        "channels": ["email", "sms"],
        "audience": Distribution.Audience.CUSTOMERS,
        "step": 7,
    }
    if "launched_at" not in fields and fields.get("status", "live") != "draft":
        defaults["launched_at"] = timezone.now() - dt.timedelta(minutes=30)
    if "campaign" not in fields:
        defaults["campaign"] = CampaignFactory()
    return DistributionFactory(**{**defaults, **fields})


def customer() -> Customer:
    n = next(_seq)
    return CustomerFactory(
        name=f"Customer {n}",
        email=f"c{n}@metrics.test",
        phone=f"+4915100{n:05d}",
        email_consent=False,
        sms_consent=False,
    )


def publish(d: Distribution, who: Customer) -> Publication:
    """A code of `d`'s campaign published to `who` by `d`, and its Recipient row."""
    publication = PublicationFactory(
        campaign=d.campaign,
        customer=who,
        public_id=f"pub_m{next(_seq)}",
        channel="distribution",
        distribution_id=d.pk,
    )
    RecipientFactory(
        distribution=d,
        customer=who,
        status=Recipient.Status.MESSAGED,
        publication=publication,
        voucher=publication.voucher,
    )
    return publication


def message(d: Distribution | None, who: Customer, channel: str, status: str, **fields: Any):
    defaults: dict[str, Any] = {
        "channel": channel,
        "customer": who,
        "status": status,
        "sandbox": True,
        "distribution_id": d.pk if d else None,
        "recipient": who.email if channel == "email" else who.phone,
    }
    if status in ("sent", "delivered") and "sent_at" not in fields:
        defaults["sent_at"] = timezone.now() - dt.timedelta(minutes=5)
    return OutboxMessageFactory(**{**defaults, **fields})


def redeem(publication: Publication, *, status: str = "SUCCEEDED", at=None) -> Redemption:
    redemption = RedemptionFactory(
        voucher=publication.voucher, campaign=publication.campaign, channel="web", status=status
    )
    if at is not None:
        Redemption.objects.filter(pk=redemption.pk).update(created_at=at)
    return redemption


def activity(d: Distribution, message: str, kind: str = "note") -> Activity:
    return ActivityFactory(distribution=d, kind=kind, message=message)


def scenario() -> dict[str, Any]:
    """A live manual email + SMS distribution with every kind of outcome:

    - 5 recipients: 4 published (codes), 1 still waiting;
    - email: 1 pending, 1 sending, 2 sent, 1 delivered, 1 failed (smtp_refused), 1 skipped
      (no_consent); SMS: 1 sent, 2 skipped (no_address);
    - reminder 1: 1 email sent, 1 SMS failed (twilio_21211);
    - redemptions: 1 code redeemed, 1 rolled back (not counted);
    - noise that must not count: another distribution's code (redeemed) and messages, and a
      message with no distribution.
    """
    d = distribution(name="Spring welcome", audience_size=5)
    people = [customer() for _ in range(5)]
    pubs = [publish(d, who) for who in people[:4]]
    RecipientFactory(distribution=d, customer=people[4])  # waiting for a code
    a, b, c, e, f = people
    for who, status in (
        (a, "pending"),
        (b, "sending"),
        (c, "sent"),
        (e, "sent"),
        (f, "delivered"),
    ):
        message(d, who, "email", status)
    message(d, a, "email", "failed", error_key="smtp_refused", last_error="550 mailbox full")
    message(
        d,
        b,
        "email",
        "skipped",
        error_key="no_consent",
        last_error="The customer has not agreed to messages on this channel.",
    )
    message(d, c, "sms", "sent")
    message(d, e, "sms", "skipped", error_key="no_address", last_error="No address.")
    message(d, f, "sms", "skipped", error_key="no_address", last_error="No address.")
    message(d, a, "email", "sent", reminder_index=1)
    message(
        d,
        a,
        "sms",
        "failed",
        reminder_index=1,
        error_key="twilio_21211",
        last_error="The number is not valid.",
    )
    redeem(pubs[0])
    redeem(pubs[1], status="ROLLED_BACK")

    other = distribution(name="Other one")
    stranger = customer()
    redeem(publish(other, stranger))
    message(other, stranger, "email", "sent")
    message(other, stranger, "sms", "failed", error_key="other_error")
    message(None, stranger, "email", "sent")
    return {"distribution": d, "other": other, "people": people, "publications": pubs}
