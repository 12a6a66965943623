"""Reads for the customer pages: the searchable list (built for a million customers), the
export rows, the customer page's sections and the import list.

The list pages by key (newest first, `id < last seen`), never by a growing OFFSET, and counts
exactly only when a filter is applied; the whole table's size comes from PostgreSQL's
statistics when it is large. A search that looks like an email uses the case-insensitive unique
index; a search that looks like a phone number compares normalised numbers; any other text
matches names, emails and source IDs and stops at the first page of matches.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

from django.apps import apps
from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Lower

from apps.campaigns.selectors import KeysetPage, keyset_page
from apps.customers.fields import CONSENT_COLUMNS, PROFILE_FIELDS
from apps.customers.models import (
    Customer,
    CustomerImport,
    Event,
    Order,
    Publication,
    SegmentMembership,
)

EXPORT_CHUNK = 2000
EVENTS_SHOWN = 50
ORDERS_SHOWN = 50
# Above this many rows the unfiltered count is PostgreSQL's estimate, not count(*).
ESTIMATE_ABOVE = 100_000
_PHONE_LIKE = re.compile(r"^\+?[0-9 ()\-.]{4,}$")


def customer_list(
    *,
    q: str = "",
    email_consent: str = "",
    sms_consent: str = "",
    created_after: dt.date | None = None,
    created_before: dt.date | None = None,
) -> QuerySet[Customer]:
    # The alias lets the email search use the unique index on lower(email).
    customers = Customer.objects.alias(email_ci=Lower("email"))
    if q:
        customers = customers.filter(_search(q))
    for channel, wanted in (("email", email_consent), ("sms", sms_consent)):
        if wanted in ("yes", "no"):
            customers = customers.filter(**{f"{channel}_consent": wanted == "yes"})
    if created_after:
        customers = customers.filter(created_at__date__gte=created_after)
    if created_before:
        customers = customers.filter(created_at__date__lte=created_before)
    return customers


def _search(q: str) -> Q:
    term = q.strip()
    if "@" in term and " " not in term:
        # Whole address: the unique index on lower(email) answers at once.
        return Q(email_ci=term.lower()) | Q(source_id=term)
    if _PHONE_LIKE.match(term) and sum(ch.isdigit() for ch in term) >= 4:
        digits = re.sub(r"[^0-9+]", "", term)
        if digits.startswith("00"):
            digits = "+" + digits[2:]
        return Q(phone__contains=digits) | Q(source_id=term)
    return (
        Q(name__icontains=term)
        | Q(email__icontains=term)
        | Q(source_id__istartswith=term)
        | Q(source_id=term)
    )


def customer_page(
    customers: QuerySet[Customer], *, after: object = None, before: object = None
) -> KeysetPage:
    """One page of the list, newest first."""
    return keyset_page(customers, after=after, before=before, newest_first=True)


def customer_count(*, filtered: QuerySet[Customer] | None) -> tuple[int, bool]:
    """(count, is_estimate): exact for a filtered list; for the whole table, the planner's
    estimate once it is large (an exact count of a million rows costs a full scan)."""
    if filtered is not None:
        return filtered.count(), False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
            [Customer._meta.db_table],
        )
        row = cursor.fetchone()
    estimate = int(row[0]) if row and row[0] is not None else -1
    if estimate > ESTIMATE_ABOVE:
        return estimate, True
    return Customer.objects.count(), False


EXPORT_COLUMNS = ("id", *PROFILE_FIELDS, *CONSENT_COLUMNS, "metadata", "created_at")


def customer_export_rows(customers: QuerySet[Customer]) -> Iterator[tuple[Any, ...]]:
    """The customers as EXPORT_COLUMNS rows through a server-side cursor, so a million rows
    never sit in memory at once. The header names match the import's field names, so an export
    can be edited and imported back (matched on source_id)."""
    rows = customers.order_by("-id").values_list(*EXPORT_COLUMNS)
    yield from rows.iterator(chunk_size=EXPORT_CHUNK)


# --- the customer page ----------------------------------------------------------------------


def customer_detail(*, customer: Customer) -> dict[str, Any]:
    """Everything the customer page shows besides the attributes, in one query per section."""
    # Redemptions live in a higher app (redemptions → customers); looked up by name so this
    # module does not import it. They are the redemptions of the codes published to this
    # customer, whoever redeemed them.
    redemption_model = apps.get_model("redemptions", "Redemption")
    publications = list(
        Publication.objects.filter(customer=customer)
        .select_related("voucher", "campaign")
        .order_by("-created_at", "-id")
    )
    redemptions = list(
        redemption_model.objects.filter(voucher_id__in=[p.voucher_id for p in publications])
        .select_related("voucher", "merchant")
        .order_by("-created_at")[:100]
    )
    orders = Order.objects.filter(customer=customer).order_by("-created_at", "-id")
    order_stats = orders.aggregate(count=Count("id"))
    return {
        "orders": list(orders[:ORDERS_SHOWN]),
        "orders_count": order_stats["count"],
        "events": list(
            Event.objects.filter(customer=customer).order_by("-created_at", "-id")[:EVENTS_SHOWN]
        ),
        "publications": publications,
        "redemptions": redemptions,
        "memberships": list(
            SegmentMembership.objects.filter(customer=customer)
            .select_related("segment")
            .order_by("segment__name")
        ),
    }


def customer_import_list() -> QuerySet[CustomerImport]:
    return CustomerImport.objects.defer("content", "error_report").order_by("-created_at")
