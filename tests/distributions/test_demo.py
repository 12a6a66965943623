"""The demo distributions (apps.distributions.demo.seed_distributions): a completed manual one
and a live automatic one, both with non-zero metrics, created once."""

from __future__ import annotations

from django.utils import timezone

from apps.customers.models import Customer, Order
from apps.customers.segments.services import segment_create, segment_members_add
from apps.distributions.demo import THANK_YOU, WELCOME, seed_distributions
from apps.distributions.models import Distribution
from apps.distributions.selectors import distribution_metrics
from apps.messaging.models import OutboxMessage
from apps.redemptions.models import Redemption
from tests.factories import CampaignFactory, MerchantFactory, VoucherFactory


def demo_data(partner, merchant_user) -> None:
    """What seed_demo has made by the time it calls seed_distributions, in small: a campaign
    with codes, a merchant allowed to redeem them, customers (some without SMS consent or
    phone), the "VIP list" segment and paid orders."""
    campaign = CampaignFactory(name="Welcome 5 off")
    for n in range(40):
        VoucherFactory(campaign=campaign, code=f"DEMO-{n:04d}")
    MerchantFactory(user=merchant_user, allowed=[campaign])
    now = timezone.now()
    customers = [
        Customer.objects.create(
            name=f"Demo {i}",
            email=f"demo{i}@x.test",
            phone=f"+4915550{i:05d}" if i % 5 else "",
            email_consent=True,
            email_consent_at=now,
            sms_consent=i % 2 == 0,
        )
        for i in range(1, 16)
    ]
    vip = segment_create(name="VIP list", kind="static")
    segment_members_add(segment=vip, customer_ids=[c.pk for c in customers[:10]])
    for n, customer in enumerate(customers[5:]):
        Order.objects.create(public_id=f"demo-o{n}", customer=customer, status="PAID", amount=4200)


def test_demo_has_a_completed_manual_and_a_live_automatic_distribution(
    partner_user_a, merchant_a, in_partner
):
    # given the demo's customers, segment, campaign and merchant
    demo_data(in_partner, merchant_a)
    # when the demo distributions are seeded
    seed_distributions(in_partner)
    # then "Welcome mail" went to the 10 VIPs by email and SMS and is completed
    welcome = Distribution.objects.get(name=WELCOME)
    assert (welcome.kind, welcome.status, welcome.channels) == (
        "manual",
        "completed",
        ["email", "sms"],
    )
    m = distribution_metrics(distribution_id=welcome.pk)
    assert (m.audience_size, m.codes_published, m.codes_redeemed) == (10, 10, 4)
    assert m.totals.total == 20 and m.totals.queued == 0
    email, sms = m.channels
    assert email.sent == 10
    # VIPs 1-10: SMS consent for the even ones, no phone for 5 and 10 → 4 sent, 6 skipped
    assert (sms.sent, sms.skipped) == (4, 6)
    assert {f.error_key for f in m.failures} == {"no_consent", "no_address"}
    assert sum(m.chart.sent) == 14 and sum(m.chart.redeemed) == 4
    assert [a.kind for a in m.activity][-1] == "launched"
    # and "Thank you on paid orders" is live, on order.paid, with the 10 paying customers
    thank_you = Distribution.objects.get(name=THANK_YOU)
    assert (thank_you.kind, thank_you.status, thank_you.trigger_event) == (
        "automatic",
        "live",
        "order.paid",
    )
    m = distribution_metrics(distribution_id=thank_you.pk)
    assert m.codes_published == 8  # the demo feeds it eight paid orders
    assert m.channels[0].sent == 8 and m.codes_redeemed == 1
    assert OutboxMessage.objects.filter(sandbox=False).count() == 0


def test_demo_distributions_are_created_once(partner_user_a, merchant_a, in_partner):
    # given the demo seeded once
    demo_data(in_partner, merchant_a)
    seed_distributions(in_partner)
    before = (
        Distribution.objects.count(),
        OutboxMessage.objects.count(),
        Redemption.objects.count(),
    )
    # when it is seeded again
    seed_distributions(in_partner)
    # then nothing is added
    after = (
        Distribution.objects.count(),
        OutboxMessage.objects.count(),
        Redemption.objects.count(),
    )
    assert before == after == (2, 28, 5)


def test_demo_without_its_segment_creates_nothing(in_partner):
    # given a partner schema without the demo's data
    # when / then
    seed_distributions(in_partner)
    assert not Distribution.objects.exists()
