"""The demo that `make run` seeds: complete on the first run, unchanged by the next ones."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django_tenants.utils import schema_context

from apps.brand.models import Allocation, PartnerProgramStats
from apps.customers.models import Customer, Order, Publication, Segment
from apps.distributions.models import Distribution
from apps.messaging.models import OutboxMessage
from apps.redemptions.models import Merchant, Redemption, RedemptionAttempt


@pytest.mark.slow  # big data: the whole demo, twice (codes, customers, jobs)
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
            assert Redemption.objects.count() == 10
            assert RedemptionAttempt.objects.filter(ok=False).count() == 1
            assert Customer.objects.count() == 300
            # 100 codes published to a third of the customers, 33 more by the demo
            # distributions ("Welcome mail" to the VIP list, "Thank you on paid orders")
            assert Order.objects.exists() and Publication.objects.count() == 133
            segments = dict(Segment.objects.values_list("kind", "members_count"))
            assert segments["static"] == 25 and segments["active"] > 0
            # sandbox messages: 12 emails and 12 SMS, and the distributions' messages
            outbox = OutboxMessage.objects.all()
            assert outbox.count() == 82 and all(m.sandbox for m in outbox)
            statuses = dict(Distribution.objects.values_list("name", "status"))
            assert statuses == {"Welcome mail": "completed", "Thank you on paid orders": "live"}
            assert outbox.filter(status="sent").exists()
            assert set(outbox.values_list("status", flat=True)) <= {"sent", "skipped"}
