"""Reads for the partner's campaign pages: counts, the codes table and the CSV export.

A campaign may hold a million codes, so nothing here loads or counts a whole pool more than
once per page: the counts are one aggregate query, the table pages by key (`id > last seen`,
never a growing OFFSET) and the export streams from a server-side cursor.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from apps.campaigns.codegen import normalize_code
from apps.campaigns.models import Campaign, Voucher

PAGE_SIZE = 50
EXPORT_CHUNK = 2000
STATUSES = ("available", "published", "redeemed", "disabled")
MATCHES = ("prefix", "contains")
# A pool is "low" below this share of its codes or this many codes, whichever is more.
LOW_SHARE = 0.10
LOW_COUNT = 100


def _counts(prefix: str = "") -> dict[str, Count]:
    """Count expressions for each status; "available" is what VoucherQuerySet.with_status
    calls it (the "left" of the page). `prefix` reaches the codes from another model."""
    p = prefix
    conditions = {
        "published": Q(**{f"{p}published_at__isnull": False}),
        "redeemed": Q(**{f"{p}redeemed_quantity__gt": 0}),
        "available": Q(
            **{f"{p}published_at__isnull": True, f"{p}active": True, f"{p}redeemed_quantity": 0}
        ),
        "disabled": Q(**{f"{p}active": False}),
    }
    counts = {"total": Count(f"{p}id")}
    counts.update({name: Count(f"{p}id", filter=q) for name, q in conditions.items()})
    return counts


def campaign_list() -> QuerySet[Campaign]:
    """Every campaign of the partner with its code counts, in one grouped query."""
    return Campaign.objects.annotate(**_counts("vouchers__")).order_by("name")


def campaign_counts(*, campaign: Campaign) -> dict[str, int]:
    """total / published / redeemed / available ("left") / disabled, in one aggregate query."""
    return Voucher.objects.filter(campaign=campaign).aggregate(**_counts())


@dataclass(frozen=True)
class KeysetPage:
    """One page of rows ordered by id, with the ids to continue from in either direction."""

    items: list[Any]
    has_next: bool
    has_previous: bool

    @property
    def next_after(self) -> int | None:
        return self.items[-1].pk if self.items and self.has_next else None

    @property
    def previous_before(self) -> int | None:
        return self.items[0].pk if self.items and self.has_previous else None

    @property
    def has_other_pages(self) -> bool:
        return self.has_next or self.has_previous


def _int_or_none(raw: object) -> int | None:
    try:
        value = int(str(raw))
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


def keyset_page(
    queryset: QuerySet[Any],
    *,
    after: object = None,
    before: object = None,
    size: int = PAGE_SIZE,
    newest_first: bool = False,
) -> KeysetPage:
    """A page of `queryset` by primary key: `after` = the last id of the previous page,
    `before` = the first id of the next one. Each page costs one LIMIT query on the primary key
    index however deep it is; a page reached by `after` assumes there is a page before it."""
    after_id, before_id = _int_or_none(after), _int_or_none(before)
    # "Forward" is the reading direction: ascending ids, or descending when newest first.
    forward_order, backward_order = ("-pk", "pk") if newest_first else ("pk", "-pk")
    forward_after, backward_before = ("pk__lt", "pk__gt") if newest_first else ("pk__gt", "pk__lt")
    if before_id is not None and after_id is None:
        rows = list(
            queryset.filter(**{backward_before: before_id}).order_by(backward_order)[: size + 1]
        )
        has_previous = len(rows) > size
        return KeysetPage(items=rows[:size][::-1], has_next=True, has_previous=has_previous)
    if after_id is not None:
        queryset = queryset.filter(**{forward_after: after_id})
    rows = list(queryset.order_by(forward_order)[: size + 1])
    return KeysetPage(
        items=rows[:size], has_next=len(rows) > size, has_previous=after_id is not None
    )


def voucher_list(
    *, campaign: Campaign, q: str = "", status: str = "", match: str = "prefix"
) -> QuerySet[Voucher]:
    """The campaign's codes, filtered; page it with keyset_page.

    A prefix search (LIKE 'X%') is served by the `varchar_pattern_ops` index Django adds beside
    the unique index on `code`, so it stays instant on a million codes. A "contains" search
    cannot use a btree index and scans the campaign's codes (about 0.2 s per million)."""
    vouchers = Voucher.objects.filter(campaign=campaign)
    if status in STATUSES:
        vouchers = vouchers.with_status(status)
    term = normalize_code(q or "")
    if term:
        if match == "contains":
            vouchers = vouchers.filter(code__contains=term)
        else:
            vouchers = vouchers.filter(code__startswith=term)
    return vouchers


EXPORT_COLUMNS = ("code", "status", "redeemed_quantity", "published_at", "created_at")


def voucher_export_rows(*, campaign: Campaign, status: str = "") -> Iterator[tuple[Any, ...]]:
    """Every code of the campaign as a row of EXPORT_COLUMNS, read through a server-side
    cursor EXPORT_CHUNK rows at a time, so a million codes never sit in memory at once."""
    vouchers = Voucher.objects.filter(campaign=campaign)
    if status in STATUSES:
        vouchers = vouchers.with_status(status)
    rows = vouchers.order_by("id").values_list(
        "code", "active", "redemption_limit", "redeemed_quantity", "published_at", "created_at"
    )
    for code, active, limit, redeemed, published_at, created_at in rows.iterator(
        chunk_size=EXPORT_CHUNK
    ):
        yield (
            code,
            _status(active, limit, redeemed, published_at),
            redeemed,
            published_at,
            created_at,
        )


def _status(active: bool, limit: int | None, redeemed: int, published_at: Any) -> str:
    # Same words as Voucher.status, without building a model instance per row.
    if not active:
        return "disabled"
    if limit is not None and redeemed >= limit:
        return "used up"
    if redeemed:
        return "redeemed"
    if published_at:
        return "published"
    return "available"


# --- The pool a partner publishes from ------------------------------------------------------


@dataclass(frozen=True)
class PoolStatus:
    """How many codes of a campaign are left to publish, and whether to warn."""

    total: int
    left: int

    @property
    def low(self) -> bool:
        return self.left < self.total * LOW_SHARE or self.left < LOW_COUNT

    @property
    def empty(self) -> bool:
        return self.left == 0


def pool_status(campaign: Campaign) -> PoolStatus:
    """The campaign's pool: all codes and those still free to publish (active, unpublished).
    One query. A page that already counted its codes can build PoolStatus(total, left)."""
    counts = Voucher.objects.filter(campaign=campaign).aggregate(
        total=Count("id"), left=Count("id", filter=Q(published_at__isnull=True, active=True))
    )
    return PoolStatus(total=counts["total"], left=counts["left"])


def publishable_campaigns() -> QuerySet[Campaign]:
    """Active, unexpired campaigns with at least one code left to publish."""
    free = Voucher.objects.available().filter(campaign=OuterRef("pk"))
    return (
        Campaign.objects.filter(active=True)
        .filter(Q(expiration_date__isnull=True) | Q(expiration_date__gt=timezone.now()))
        .filter(Exists(free))
        .order_by("name")
    )
