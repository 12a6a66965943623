"""Demo distributions for `manage.py seed_demo` (called per partner, inside its schema, after
the demo's customers, segments and sandbox messages exist).

- "Welcome mail": a manual email + SMS distribution to the static segment "VIP list",
  launched and fanned out right here, its messages sent through the sandbox, and a few of its
  codes redeemed, so it shows as completed with every metric filled in.
- "Thank you on paid orders": an automatic email distribution firing on order.paid, activated,
  then fed a few paid orders and consumed, so it is live with some numbers.

Everything goes through the real services and pipeline functions (launch, fan-out,
consumption, send jobs, redemption), run synchronously so the demo is complete when the
server starts; the jobs that launch queued find nothing left to do. Idempotent: nothing
happens when "Welcome mail" exists.
"""

from __future__ import annotations

import logging
from typing import Any

from apps.accounts.models import User
from apps.campaigns.models import Campaign
from apps.customers.events import event_record
from apps.customers.models import Order, Publication, Segment
from apps.distributions.models import Distribution
from apps.distributions.pipeline.automatic import distribution_consume
from apps.distributions.pipeline.fanout import fanout_run
from apps.distributions.services import distribution_activate, distribution_launch
from apps.messaging.sending import outbox_send
from apps.redemptions.models import Channel as RedemptionChannel
from apps.redemptions.models import Merchant
from apps.redemptions.services import Actor, RedemptionError, voucher_redeem
from apps.tenancy.models import Partner

logger = logging.getLogger(__name__)

WELCOME = "Welcome mail"
THANK_YOU = "Thank you on paid orders"
VIP_SEGMENT = "VIP list"
# How many of each distribution's codes the demo merchants redeem, and how many paid orders
# feed the automatic one.
WELCOME_REDEEMED = 4
THANK_YOU_ORDERS = 8
THANK_YOU_REDEEMED = 1

WELCOME_CONTENT: dict[str, dict[str, str]] = {
    "email": {
        "subject": "Welcome, {{ customer.first_name }}: a gift from {{ partner.name }}",
        "html": (
            "<p>Hello {{ customer.first_name }},</p>"
            "<p>As one of our VIPs you get <strong>{{ voucher.discount }}</strong> your next "
            "order with the code <strong>{{ voucher.code }}</strong>.</p>"
            '<p><img src="{{ voucher.qr_url }}" alt="QR code of your code" width="160"></p>'
            '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
        ),
    },
    "sms": {"text": "{{ partner.name }}: welcome! {{ voucher.discount }} with {{ voucher.code }}"},
}
THANK_YOU_CONTENT: dict[str, dict[str, str]] = {
    "email": {
        "subject": "Thank you for your order, {{ customer.first_name }}",
        "html": (
            "<p>Thank you for shopping with {{ partner.name }}!</p>"
            "<p>Here is <strong>{{ voucher.discount }}</strong> your next order: "
            "<strong>{{ voucher.code }}</strong>.</p>"
            '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
        ),
    },
}


def seed_distributions(partner: Partner) -> None:
    """Create the demo's two distributions in the current (partner) schema, once."""
    if Distribution.objects.filter(name__iexact=WELCOME).exists():
        return
    campaign = Campaign.objects.order_by("pk").first()
    segment = Segment.objects.filter(name=VIP_SEGMENT).first()
    if campaign is None or segment is None:
        logger.warning("demo distributions skipped: no campaign or no %r segment", VIP_SEGMENT)
        return
    actor = User.objects.filter(email=f"{partner.slug}@demo.test").first()
    merchant = Merchant.objects.order_by("pk").first()

    welcome = Distribution.objects.create(
        name=WELCOME,
        kind=Distribution.Kind.MANUAL,
        step=7,
        channels=["email", "sms"],
        content=WELCOME_CONTENT,
        audience=Distribution.Audience.SEGMENT,
        segment=segment,
        campaign=campaign,
        created_by_id=actor.pk if actor else None,
    )
    distribution_launch(distribution=welcome, actor=actor)
    fanout_run(welcome.pk)
    _send_all(welcome.channels)
    _redeem(welcome, merchant, WELCOME_REDEEMED)

    thank_you = Distribution.objects.create(
        name=THANK_YOU,
        kind=Distribution.Kind.AUTOMATIC,
        step=7,
        channels=["email"],
        content=THANK_YOU_CONTENT,
        audience=Distribution.Audience.EVENT,
        trigger_event="order.paid",
        campaign=campaign,
        created_by_id=actor.pk if actor else None,
    )
    distribution_activate(distribution=thank_you, actor=actor)
    # Paid orders of customers who may receive email, as if the shop had just reported them.
    orders = (
        Order.objects.filter(status=Order.Status.PAID, customer__email_consent=True)
        .select_related("customer")
        .order_by("pk")[:THANK_YOU_ORDERS]
    )
    for order in orders:
        event_record(
            customer=order.customer,
            type="order.paid",
            payload={"order": order.public_id, "amount": order.amount, "source": "demo"},
        )
    distribution_consume(thank_you.pk)
    _send_all(thank_you.channels)
    _redeem(thank_you, merchant, THANK_YOU_REDEEMED)


def _send_all(channels: list[str]) -> None:
    for channel in channels:
        outbox_send(channel)


def _redeem(distribution: Distribution, merchant: Merchant | None, count: int) -> None:
    """Redeem the first `count` codes the distribution published, at a demo merchant."""
    if merchant is None:
        return
    actor = Actor(channel=RedemptionChannel.WEB, merchant=merchant, user=merchant.user)
    codes: list[Any] = list(
        Publication.objects.filter(distribution_id=distribution.pk)
        .order_by("pk")
        .values_list("voucher__code", flat=True)[:count]
    )
    for n, code in enumerate(codes):
        try:
            voucher_redeem(actor=actor, code=code, order_amount=3000 + 1500 * n)
        except RedemptionError as exc:  # a demo merchant not allowed this campaign, say
            logger.warning("demo redemption of %s refused: %s", code, exc)
