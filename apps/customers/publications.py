"""Publishing (assigning) codes of a campaign pool to customers (partner schema).

A code is picked with `SELECT … FOR UPDATE SKIP LOCKED` among the campaign's codes that are
active and not yet published: concurrent publications each lock a different row instead of
queueing on the same one, and the one-to-one Publication.voucher is the backstop that a code
is never given to two customers. `source_id` makes a retry return the same publication;
`join_once` gives a customer at most one code of a campaign (serialised per customer by a
row lock, so two concurrent calls cannot both pass the check); `distribution_id` gives a
customer at most one code per distribution (a unique constraint; fan-outs of the same
distribution are serialised by an advisory lock).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps import rollups
from apps.campaigns.models import Campaign, Voucher
from apps.core.db import tenant_connection
from apps.core.errors import DomainError
from apps.customers.events import audience_changed, event_record
from apps.customers.models import Customer, Event, Publication

NO_VOUCHER = "no_voucher_suitable_for_publication"
# Pool-low warning: fewer than this share of the codes, or fewer than this many, are left.


_VOUCHERS = Voucher._meta.db_table
_CUSTOMERS = Customer._meta.db_table
_PUBLICATIONS = Publication._meta.db_table
_EVENTS = Event._meta.db_table


def new_publication_id() -> str:
    return "pub_" + secrets.token_hex(10)


class PublicationError(DomainError):
    key = NO_VOUCHER


def _check_campaign(campaign: Campaign) -> None:
    """Codes of a campaign that cannot be redeemed are not handed out."""
    if not campaign.active:
        raise PublicationError(
            f"Campaign “{campaign.name}” is inactive, so its codes cannot be published. "
            "Ask the brand to activate it, or publish from another campaign.",
            key=NO_VOUCHER,
        )
    if campaign.expiration_date and campaign.expiration_date <= timezone.now():
        raise PublicationError(
            f"Campaign “{campaign.name}” expired on "
            f"{timezone.localtime(campaign.expiration_date):%Y-%m-%d %H:%M}; its codes can no "
            "longer be published. Publish from another campaign.",
            key=NO_VOUCHER,
        )


def _empty_pool(campaign: Campaign) -> PublicationError:
    return PublicationError(
        f"Campaign “{campaign.name}” has no codes left to publish: every active code has "
        "already been handed out. Ask the brand for a new allocation, or publish from another "
        "campaign.",
        key=NO_VOUCHER,
    )


def _lock_distribution(distribution_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"publish-distribution:{tenant_connection.schema_name}:{distribution_id}"],
        )


def _same_request(existing: Publication, campaign: Campaign, customer: Customer) -> Publication:
    if existing.campaign_id != campaign.pk or existing.customer_id != customer.pk:
        raise DomainError(
            f"The source id “{existing.source_id}” was already used to publish a code of "
            "another campaign or to another customer. Use a new source_id for a new "
            "publication, or resend the original request unchanged.",
            key="duplicate_source_id",
            http_status=409,
        )
    return existing


def _existing(
    *,
    campaign: Campaign,
    customer: Customer,
    source_id: str | None,
    distribution_id: int | None,
) -> Publication | None:
    qs = Publication.objects.select_related("voucher", "campaign", "customer")
    if source_id:
        found = qs.filter(source_id=source_id).first()
        if found is not None:
            return _same_request(found, campaign, customer)
    if distribution_id is not None:
        return qs.filter(distribution_id=distribution_id, customer=customer).first()
    return None


@transaction.atomic
def voucher_publish(
    *,
    campaign: Campaign,
    customer: Customer,
    channel: str,
    source_id: str | None = None,
    join_once: bool = False,
    distribution_id: int | None = None,
    metadata: dict[str, Any] | None = None,
) -> Publication:
    """Give `customer` one code of `campaign` and return the publication. Returns the
    earlier publication instead when `source_id` was used before (same campaign and
    customer), when `join_once` and the customer already has a code of the campaign, or when
    the customer already has a code of `distribution_id`. An empty pool raises
    PublicationError (`no_voucher_suitable_for_publication`)."""
    if distribution_id is not None:
        _lock_distribution(distribution_id)
    found = _existing(
        campaign=campaign, customer=customer, source_id=source_id, distribution_id=distribution_id
    )
    if found is not None:
        return found
    if join_once:
        # Serialise this customer's publications; NO KEY keeps event inserts unblocked.
        list(Customer.objects.select_for_update(no_key=True).filter(pk=customer.pk).values("pk"))
        held = (
            Publication.objects.select_related("voucher", "campaign", "customer")
            .filter(campaign=campaign, customer=customer)
            .order_by("created_at", "id")
            .first()
        )
        if held is not None:
            return held
    _check_campaign(campaign)

    try:
        with transaction.atomic():  # a savepoint: a lost race undoes the voucher update too
            voucher = (
                Voucher.objects.available()
                .filter(campaign=campaign)
                .order_by("id")
                .select_for_update(skip_locked=True)
                .first()
            )
            if voucher is None:
                raise _empty_pool(campaign)
            now = timezone.now()
            Voucher.objects.filter(pk=voucher.pk).update(published_at=now)
            voucher.published_at = now
            publication = Publication.objects.create(
                voucher=voucher,
                campaign=campaign,
                customer=customer,
                public_id=new_publication_id(),
                source_id=source_id or None,
                channel=channel,
                distribution_id=distribution_id,
                metadata=metadata or {},
            )
    except IntegrityError:
        # A concurrent request with the same source id (or distribution) committed first:
        # its publication is the answer.
        found = _existing(
            campaign=campaign,
            customer=customer,
            source_id=source_id,
            distribution_id=distribution_id,
        )
        if found is None:
            raise
        return found

    event_record(
        customer=customer,
        type="voucher.published",
        payload={
            "code": voucher.code,
            "campaign": campaign.name,
            "campaign_id": campaign.pk,
            "publication": publication.public_id,
            "channel": channel,
            "distribution_id": distribution_id,
        },
    )
    rollups.record_published(program_id=campaign.program_id)
    return publication


# --- Set-based publication for fan-outs ----------------------------------------------------


@dataclass
class BulkPublishResult:
    created: int
    # Customers asked for who got no code because the pool ran out (ids, ascending).
    unserved: list[int] = field(default_factory=list)


def _bulk_sql() -> str:
    # Customers are paired with codes by rank (row_number), so the n-th customer (by id) gets
    # the n-th free code (by id); codes locked by a concurrent publication are skipped.
    # Table names come from the models; every value is a parameter.
    return f"""
    WITH wanted AS (
        SELECT c.id AS customer_id, row_number() OVER (ORDER BY c.id) AS n
        FROM {_CUSTOMERS} c
        WHERE c.id = ANY(%(customer_ids)s::bigint[])
          AND NOT EXISTS (
              SELECT 1 FROM {_PUBLICATIONS} p
              WHERE p.distribution_id = %(distribution_id)s::bigint AND p.customer_id = c.id)
    ), pool AS (
        SELECT picked.id, row_number() OVER (ORDER BY picked.id) AS n
        FROM (
            SELECT v.id FROM {_VOUCHERS} v
            WHERE v.campaign_id = %(campaign_id)s AND v.published_at IS NULL AND v.active
            ORDER BY v.id
            LIMIT (SELECT count(*) FROM wanted)
            FOR UPDATE SKIP LOCKED
        ) picked
    ), pairs AS (
        SELECT pool.id AS voucher_id, wanted.customer_id
        FROM wanted JOIN pool USING (n)
    ), marked AS (
        UPDATE {_VOUCHERS} v SET published_at = now()
        FROM pairs WHERE v.id = pairs.voucher_id
        RETURNING v.id, v.code
    ), ins AS (
        INSERT INTO {_PUBLICATIONS} (voucher_id, campaign_id, customer_id, public_id, source_id,
            channel, distribution_id, metadata, created_at)
        SELECT pairs.voucher_id, %(campaign_id)s, pairs.customer_id,
            'pub_' || left(replace(gen_random_uuid()::text, '-', ''), 20), NULL,
            %(channel)s::text, %(distribution_id)s::bigint, '{{}}'::jsonb, now()
        FROM pairs
        RETURNING voucher_id, customer_id, public_id
    ), ev AS (
        INSERT INTO {_EVENTS} (customer_id, type, payload, created_at)
        SELECT ins.customer_id, 'voucher.published',
            jsonb_build_object('code', marked.code, 'campaign', %(campaign_name)s::text,
                'campaign_id', %(campaign_id)s::bigint, 'publication', ins.public_id,
                'channel', %(channel)s::text, 'distribution_id', %(distribution_id)s::bigint),
            now()
        FROM ins JOIN marked ON marked.id = ins.voucher_id
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM ins),
           COALESCE((SELECT array_agg(w.customer_id ORDER BY w.customer_id) FROM wanted w
                     WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.customer_id = w.customer_id)),
                    '{{}}'),
           (SELECT count(*) FROM ev)
    """  # noqa: S608


@transaction.atomic
def vouchers_publish_bulk(
    *,
    campaign: Campaign,
    customer_ids: Iterable[int],
    channel: str,
    distribution_id: int | None = None,
) -> BulkPublishResult:
    """Give each of `customer_ids` one code of `campaign` in one statement (pairing free
    codes with customers, marking the codes, inserting publications and `voucher.published`
    events). Customers who already have a code of `distribution_id` are skipped; ids of
    customers that do not exist are ignored. When the pool runs out, the customers left
    without a code are returned in `unserved` (the caller decides: warn, wait, retry)."""
    ids = sorted({int(pk) for pk in customer_ids})
    if not ids:
        return BulkPublishResult(created=0)
    _check_campaign(campaign)
    if distribution_id is not None:
        _lock_distribution(distribution_id)
    with connection.cursor() as cursor:
        cursor.execute(
            _bulk_sql(),
            {
                "customer_ids": ids,
                "distribution_id": distribution_id,
                "campaign_id": campaign.pk,
                "campaign_name": campaign.name,
                "channel": channel,
            },
        )
        created, unserved, _events = cursor.fetchone()
    if created:
        rollups.record_published(program_id=campaign.program_id, quantity=created)
    if created:
        audience_changed(["voucher.published"])
    return BulkPublishResult(created=created, unserved=list(unserved))


# --- Reads ---------------------------------------------------------------------------------


def customer_publications(customer: Customer) -> QuerySet[Publication]:
    """A customer's codes, newest first (for the customer page)."""
    return Publication.objects.filter(customer=customer).select_related("voucher", "campaign")
