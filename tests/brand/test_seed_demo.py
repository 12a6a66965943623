"""The demo that `make run` seeds: complete on the first run, unchanged by the next ones."""

from __future__ import annotations

from django.core.management import call_command
from django_tenants.utils import schema_context

from apps.brand.models import Allocation, PartnerProgramStats
from apps.customers.models import Customer, Order, Publication, Segment
from apps.messaging.models import OutboxMessage
from apps.redemptions.models import Merchant, Redemption, RedemptionAttempt


def test_seed_demo_fills_every_page_and_is_idempotent(db):
    # when
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    # then both partners hold 1,000 codes of the demo program and a few redemptions
    stats = dict(PartnerProgramStats.objects.values_list("partner__slug", "allocated"))
    assert stats == {"northwind": 1000, "contoso": 1000}
    assert Allocation.objects.filter(status=Allocation.Status.SUCCEEDED).count() == 2
    for schema in ("p_northwind", "p_contoso"):
        with schema_context(schema):
            assert Merchant.objects.count() == 2
            assert Redemption.objects.count() == 5
            assert RedemptionAttempt.objects.filter(ok=False).count() == 1
            assert Customer.objects.count() == 300
            assert Order.objects.exists() and Publication.objects.count() == 100
            segments = dict(Segment.objects.values_list("kind", "members_count"))
            assert segments["static"] == 25 and segments["active"] > 0
            # sandbox messages: 12 emails and 12 SMS, sent or skipped for want of consent
            outbox = OutboxMessage.objects.all()
            assert outbox.count() == 24 and all(m.sandbox for m in outbox)
            assert outbox.filter(status="sent").exists()
            assert set(outbox.values_list("status", flat=True)) <= {"sent", "skipped"}
