"""A code is published to at most one customer, under any concurrency (ARCHITECTURE
section 6): 50 publications at once, from 50 threads with their own database connections,
on a pool of 40 codes."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connections
from django_tenants.utils import schema_context

from apps import rollups
from apps.brand.models import PartnerProgramStats
from apps.campaigns.models import Campaign
from apps.core.errors import DomainError
from apps.customers.models import Customer, Event, Publication
from apps.customers.publications import NO_VOUCHER, voucher_publish
from tests.conftest import committed_db
from tests.factories import CampaignFactory, VoucherFactory

pytestmark = [pytest.mark.slow, committed_db()]

CLIENTS = 50
POOL = 40


@pytest.fixture(autouse=True)
def _empty_partner_schemas(empty_partner_schemas):
    """These tests commit: empty the partner schemas after each (tests/conftest.py)."""


def publish_at_once(schema: str, campaign_id: int, customer_ids: list[int]) -> list[object]:
    """One thread per customer; all wait at a barrier, then publish. Each thread has its own
    connection (Django opens one per thread) and closes it when done."""
    barrier = threading.Barrier(len(customer_ids))
    results: list[object] = []
    lock = threading.Lock()

    def client(customer_id: int) -> None:
        try:
            with schema_context(schema):
                campaign = Campaign.objects.get(pk=campaign_id)
                customer = Customer.objects.get(pk=customer_id)
                barrier.wait()
                try:
                    answer: object = voucher_publish(
                        campaign=campaign, customer=customer, channel="API"
                    )
                except DomainError as exc:
                    answer = exc
        except Exception as exc:  # reported in the outcome instead of lost in a thread
            answer = exc
        finally:
            connections.close_all()
        with lock:
            results.append(answer)

    threads = [threading.Thread(target=client, args=(pk,)) for pk in customer_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == len(customer_ids)
    return results


def test_fifty_parallel_publications_on_forty_codes(partner_a):
    # given a pool of 40 codes and 50 customers
    with schema_context(partner_a.schema_name):
        campaign = CampaignFactory(name="Concurrent pool")
        for n in range(POOL):
            VoucherFactory(campaign=campaign, code=f"RACE-{n:04d}")
        customers = [Customer.objects.create(source_id=f"race-{n}") for n in range(CLIENTS)]
    # when all 50 publish at the same moment
    results = publish_at_once(partner_a.schema_name, campaign.pk, [c.pk for c in customers])
    # then 40 got a code, 10 got the clear empty-pool error, nothing else happened
    published = [r for r in results if isinstance(r, Publication)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(published) == POOL, Counter(type(r).__name__ for r in results)
    assert len(refused) == CLIENTS - POOL
    assert {r.key for r in refused} == {NO_VOUCHER}
    assert all(campaign.name in r.message for r in refused)
    with schema_context(partner_a.schema_name):
        rows = list(Publication.objects.filter(campaign=campaign))
        assert len(rows) == POOL
        assert len({p.voucher_id for p in rows}) == POOL  # no code given twice
        assert len({p.customer_id for p in rows}) == POOL  # 40 different customers
        assert {p.voucher_id for p in rows} == {p.voucher_id for p in published}
        assert campaign.vouchers.filter(published_at__isnull=True).count() == 0
        assert Event.objects.filter(type="voucher.published").count() == POOL
    rollups.flush()
    stats = PartnerProgramStats.objects.get(partner=partner_a, program_id=campaign.program_id)
    assert stats.published == POOL
