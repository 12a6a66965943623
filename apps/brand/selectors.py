"""Reads for the brand console. Brand-wide numbers come from the public rollup tables only:
no request ever visits a partner schema (ARCHITECTURE section 3)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Case, Count, IntegerField, Max, Q, QuerySet, Sum, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.brand.models import Allocation, DailyRedemptions, PartnerProgramStats, Program
from apps.tenancy.models import Partner

CHART_DAYS = 30
# Distinct, colour-blind-friendly line colours (Okabe-Ito), reused when partners outnumber them.
CHART_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")


def program_list(*, query: str = "") -> QuerySet[Program]:
    programs = Program.objects.annotate(
        allocation_count=Count("allocations"),
        codes_allocated=Coalesce(
            Sum("allocations__quantity", filter=~Q(allocations__status=Allocation.Status.FAILED)),
            0,
        ),
    ).order_by("-created_at")
    if query:
        programs = programs.filter(Q(name__icontains=query) | Q(description__icontains=query))
    return programs


def allocated_count(*, program: Program, partner: Partner) -> int:
    """Codes already given (or on their way) to the partner for the program: what a top-up
    must fit next to. A failed allocation counts the codes it made before failing."""
    total = Allocation.objects.filter(program=program, partner=partner).aggregate(
        n=Sum(
            Case(
                When(status=Allocation.Status.FAILED, then="codes_created"),
                default="quantity",
                output_field=IntegerField(),
            )
        )
    )["n"]
    return int(total or 0)


def allocation_list(
    *, program_id: int | None = None, partner_id: int | None = None
) -> QuerySet[Allocation]:
    allocations = Allocation.objects.select_related("program", "partner", "created_by", "job_run")
    if program_id:
        allocations = allocations.filter(program_id=program_id)
    if partner_id:
        allocations = allocations.filter(partner_id=partner_id)
    return allocations.order_by("-created_at", "-id")


def program_partner_totals(*, program: Program) -> list[dict[str, Any]]:
    """Per partner: allocations, codes asked for, codes made, and whether any is under way."""
    rows: Any = (
        Allocation.objects.filter(program=program)
        .values("partner__name", "partner__slug")
        .annotate(
            allocations=Count("id"),
            requested=Sum("quantity"),
            created=Sum("codes_created"),
            pending=Count(
                "id",
                filter=Q(status__in=[Allocation.Status.QUEUED, Allocation.Status.RUNNING]),
            ),
            failed=Count("id", filter=Q(status=Allocation.Status.FAILED)),
            last=Max("created_at"),
        )
        .order_by("partner__name")
    )
    return list(rows)


@dataclass(frozen=True)
class PartnerRow:
    partner_id: int
    name: str
    slug: str
    allocated: int
    published: int
    redeemed: int
    discount_total: int
    last_activity_at: dt.datetime | None

    @property
    def rate_basis(self) -> str:
        """What the redemption rate divides by: published codes, or allocated ones when none
        has been handed to a customer yet (codes given out on paper, say)."""
        return "published" if self.published else "allocated"

    @property
    def redemption_rate(self) -> float | None:
        base = self.published or self.allocated
        return self.redeemed / base if base else None

    @property
    def rate_text(self) -> str:
        rate = self.redemption_rate
        return "—" if rate is None else f"{rate * 100:.1f}%"


def dashboard_rows() -> list[PartnerRow]:
    """One row per partner with any activity, summed over its programs in one query."""
    rows = (
        PartnerProgramStats.objects.values("partner_id", "partner__name", "partner__slug")
        .annotate(
            allocated_sum=Sum("allocated"),
            published_sum=Sum("published"),
            redeemed_sum=Sum("redeemed"),
            discount_sum=Sum("discount_total"),
            last=Max("last_activity_at"),
        )
        .order_by("partner__name")
    )
    return [
        PartnerRow(
            partner_id=r["partner_id"],
            name=r["partner__name"],
            slug=r["partner__slug"],
            allocated=r["allocated_sum"] or 0,
            published=r["published_sum"] or 0,
            redeemed=r["redeemed_sum"] or 0,
            discount_total=r["discount_sum"] or 0,
            last_activity_at=r["last"],
        )
        for r in rows
    ]


def redemptions_chart(*, days: int = CHART_DAYS, today: dt.date | None = None) -> dict[str, Any]:
    """A Chart.js line-chart config: redemptions per day per partner over the last `days`
    days (one query). Days without redemptions are zeros, so the lines do not skip them."""
    today = today or timezone.localdate()
    first = today - dt.timedelta(days=days - 1)
    labels = [first + dt.timedelta(days=i) for i in range(days)]
    series: dict[str, dict[dt.date, int]] = {}
    for row in (
        DailyRedemptions.objects.filter(day__gte=first, day__lte=today)
        .values_list("partner__name", "day", "redeemed")
        .order_by("partner__name", "day")
    ):
        name, day, redeemed = row
        series.setdefault(name, {})[day] = redeemed
    datasets = [
        {
            "label": name,
            "data": [per_day.get(day, 0) for day in labels],
            "borderColor": CHART_COLOURS[i % len(CHART_COLOURS)],
            "backgroundColor": CHART_COLOURS[i % len(CHART_COLOURS)],
            "tension": 0.2,
        }
        for i, (name, per_day) in enumerate(series.items())
    ]
    return {
        "type": "line",
        "data": {"labels": [d.strftime("%b %d") for d in labels], "datasets": datasets},
        "options": {
            "scales": {"y": {"beginAtZero": True, "ticks": {"precision": 0}}},
            "plugins": {"legend": {"position": "bottom"}},
        },
    }
