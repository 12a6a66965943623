"""Reads for the distributions pages: the filtered list with its per-row counts, and the
metrics of one distribution (what its page shows and polls every few seconds).

Every number comes from a constant handful of grouped queries, whatever the size of the
audience or the number of rows on a page: the metrics fragment is polled by every open
browser tab, so it must stay cheap on a distribution with 100,000 recipients.

Definitions (also in docs/distributions-metrics.md):
- queued = pending + sending outbox rows (not handed to the provider yet);
- sent = sent + delivered (accepted by the provider); delivered ⊆ sent;
- failed and skipped carry an error key and a sentence, grouped on the page;
- codes redeemed = codes published by the distribution with at least one redemption that
  has not been rolled back; redemption rate = codes redeemed ÷ codes published.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet
from django.db.models.functions import Trunc
from django.utils import timezone

from apps.customers.models import Publication
from apps.distributions.models import TRIGGER_EVENTS, Activity, Distribution, Recipient
from apps.messaging.models import Channel, OutboxMessage
from apps.redemptions.models import Redemption

ACTIVITY_LIMIT = 20
SENT_STATUSES = (OutboxMessage.Status.SENT, OutboxMessage.Status.DELIVERED)
QUEUED_STATUSES = (OutboxMessage.Status.PENDING, OutboxMessage.Status.SENDING)
# The chart's buckets: hours for a distribution younger than two days, then days, then weeks
# (at most this many buckets, the latest ones) so the chart stays readable.
HOURLY_UP_TO = dt.timedelta(hours=48)
DAILY_UP_TO = dt.timedelta(days=120)
MAX_WEEKS = 104
CHANNEL_LABELS = dict(Channel.choices)


# --- Labels shared by the list, the detail page and the CSV export -------------------------


def status_label(distribution: Distribution) -> str:
    """ "Paused: pool empty" says more than "Paused" when the campaign ran out of codes."""
    if distribution.status == Distribution.Status.PAUSED and (
        distribution.pause_reason == "pool_empty"
    ):
        return "Paused: pool empty"
    return distribution.get_status_display()


STATUS_BADGES: dict[str, str] = {
    Distribution.Status.DRAFT: "badge-muted",
    Distribution.Status.LIVE: "badge-success",
    Distribution.Status.PAUSED: "badge-warning",
    Distribution.Status.COMPLETED: "badge-info",
    Distribution.Status.ARCHIVED: "badge-muted",
}


def status_badge(distribution: Distribution) -> str:
    """The badge class of a status (apps.css): green live, amber paused, blue completed."""
    return STATUS_BADGES.get(distribution.status, "badge-muted")


def audience_label(distribution: Distribution, chosen_count: int | None = None) -> str:
    """Who the distribution reaches, in a few words."""
    audience = distribution.audience
    if audience == Distribution.Audience.SEGMENT:
        name = distribution.segment.name if distribution.segment else "(deleted segment)"
        if distribution.kind == Distribution.Kind.AUTOMATIC:
            return f"Entering segment “{name}”"
        return f"Segment “{name}”"
    if audience == Distribution.Audience.CUSTOMERS:
        if chosen_count is None:
            return "Chosen customers"
        return f"{chosen_count} chosen customer{'' if chosen_count == 1 else 's'}"
    if audience == Distribution.Audience.EVENT:
        event = TRIGGER_EVENTS.get(distribution.trigger_event, distribution.trigger_event)
        return f"On “{event}”" if event else "A customer event"
    return "—"


def channels_label(channels: Iterable[str]) -> str:
    return ", ".join(CHANNEL_LABELS.get(c, c) for c in channels) or "—"


def wizard_step(distribution: Distribution) -> int:
    """The wizard step a draft resumes at: the one after the last completed, at most 7."""
    return max(1, min(distribution.step + 1, 7))


# --- The list ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListFilters:
    q: str = ""
    status: str = ""
    kind: str = ""

    @classmethod
    def from_query(cls, data: Any) -> ListFilters:
        """Unknown values are ignored rather than refused: a stale bookmark still lists."""
        status = data.get("status", "")
        kind = data.get("type", "")
        return cls(
            q=data.get("q", "").strip()[:120],
            status=status if status in Distribution.Status.values else "",
            kind=kind if kind in Distribution.Kind.values else "",
        )

    def query_string(self) -> str:

        pairs = {"q": self.q, "status": self.status, "type": self.kind}
        return urlencode({k: v for k, v in pairs.items() if v})

    @property
    def active(self) -> bool:
        return bool(self.q or self.status or self.kind)


def distribution_list(*, filters: ListFilters) -> QuerySet[Distribution]:
    """Distributions matching the filters, newest first, with what a row shows."""
    rows = Distribution.objects.select_related("campaign", "segment").annotate(
        chosen_count=Count("chosen")
    )
    if filters.q:
        rows = rows.filter(name__icontains=filters.q)
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.kind:
        rows = rows.filter(kind=filters.kind)
    return rows.order_by("-created_at", "-id")


@dataclass
class RowCounts:
    sent: int = 0
    redeemed: int = 0


def distribution_counts(*, distribution_ids: Iterable[int]) -> dict[int, RowCounts]:
    """Messages sent (first messages, every channel; reminders not counted) and codes
    redeemed for each of `distribution_ids`: two grouped queries for a whole page."""
    ids = list(distribution_ids)
    counts = {pk: RowCounts() for pk in ids}
    if not ids:
        return counts
    sent = (
        OutboxMessage.objects.filter(
            distribution_id__in=ids, status__in=SENT_STATUSES, reminder_index=0
        )
        .values("distribution_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in sent:
        counts[row["distribution_id"] or 0].sent = row["n"]
    redeemed = (
        Publication.objects.filter(distribution_id__in=ids)
        .filter(Exists(_succeeded_redemptions()))
        .values("distribution_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in redeemed:
        counts[row["distribution_id"] or 0].redeemed = row["n"]
    return counts


def _succeeded_redemptions() -> QuerySet[Redemption]:
    return Redemption.objects.filter(
        voucher_id=OuterRef("voucher_id"), status=Redemption.Status.SUCCEEDED
    )


# --- The metrics of one distribution ---------------------------------------------------------


@dataclass
class MessageCounts:
    """Outbox rows of one channel (or one reminder, or all), by what became of them."""

    label: str
    queued: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def total(self) -> int:
        return self.queued + self.sent + self.failed + self.skipped

    def add(self, status: str, n: int) -> None:
        if status in QUEUED_STATUSES:
            self.queued += n
        elif status in SENT_STATUSES:
            self.sent += n
            if status == OutboxMessage.Status.DELIVERED:
                self.delivered += n
        elif status == OutboxMessage.Status.FAILED:
            self.failed += n
        elif status == OutboxMessage.Status.SKIPPED:
            self.skipped += n


@dataclass
class FailureGroup:
    """Failed or skipped messages sharing a reason."""

    status: str
    channel: str
    error_key: str
    count: int
    sample: str

    @property
    def channel_label(self) -> str:
        return CHANNEL_LABELS.get(self.channel, self.channel)


@dataclass
class ChartData:
    granularity: str  # "hour", "day" or "week"
    labels: list[str] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    redeemed: list[int] = field(default_factory=list)

    @property
    def has_data(self) -> bool:
        return any(self.sent) or any(self.redeemed)

    def rows(self) -> list[tuple[str, int, int]]:
        return list(zip(self.labels, self.sent, self.redeemed, strict=True))

    def as_json(self) -> dict[str, Any]:
        return {
            "granularity": self.granularity,
            "labels": self.labels,
            "sent": self.sent,
            "redeemed": self.redeemed,
        }


@dataclass
class DistributionMetrics:
    distribution: Distribution
    audience_size: int
    recipients: dict[str, int]
    codes_published: int
    codes_redeemed: int
    channels: list[MessageCounts]
    totals: MessageCounts
    reminders: list[MessageCounts]
    reminders_sent: int
    failures: list[FailureGroup]
    chart: ChartData
    activity: list[Activity]
    generated_at: dt.datetime

    @property
    def redemption_rate(self) -> float | None:
        """Codes redeemed ÷ codes published, None before any code is published."""
        if not self.codes_published:
            return None
        return self.codes_redeemed / self.codes_published

    @property
    def redemption_rate_text(self) -> str:
        rate = self.redemption_rate
        return "—" if rate is None else f"{rate * 100:.1f}%"

    @property
    def recipients_total(self) -> int:
        return sum(self.recipients.values())

    @property
    def waiting(self) -> int:
        return self.recipients.get(Recipient.Status.WAITING, 0)

    @property
    def polling(self) -> bool:
        """The page keeps refreshing while something can still change quickly."""
        return self.distribution.status in (
            Distribution.Status.LIVE,
            Distribution.Status.PAUSED,
        )


def distribution_metrics(
    *, distribution_id: int, now: dt.datetime | None = None
) -> DistributionMetrics:
    """Everything the metrics panel shows for one distribution, in eight grouped queries.
    Raises Distribution.DoesNotExist for an unknown id (the view turns it into a 404)."""
    now = now or timezone.now()
    distribution = Distribution.objects.select_related("campaign", "segment").get(
        pk=distribution_id
    )

    recipients = {
        row["status"]: row["n"]
        for row in Recipient.objects.filter(distribution_id=distribution_id)
        .values("status")
        .annotate(n=Count("id"))
        .order_by()
    }

    codes = Publication.objects.filter(distribution_id=distribution_id).aggregate(
        published=Count("id"),
        redeemed=Count("id", filter=Q(Exists(_succeeded_redemptions()))),
    )

    outbox = OutboxMessage.objects.filter(distribution_id=distribution_id)
    per_channel: dict[str, MessageCounts] = {
        c: MessageCounts(CHANNEL_LABELS.get(c, c)) for c in distribution.channels
    }
    per_reminder: dict[int, MessageCounts] = {}
    totals = MessageCounts("All channels")
    for row in (
        outbox.values("channel", "status", "reminder_index").annotate(n=Count("id")).order_by()
    ):
        channel, status, reminder, n = (
            row["channel"],
            row["status"],
            row["reminder_index"],
            row["n"],
        )
        if reminder == 0:
            per_channel.setdefault(channel, MessageCounts(CHANNEL_LABELS.get(channel, channel)))
            per_channel[channel].add(status, n)
            totals.add(status, n)
        else:
            per_reminder.setdefault(reminder, MessageCounts(f"Reminder {reminder}"))
            per_reminder[reminder].add(status, n)

    failures = [
        FailureGroup(
            status=row["status"],
            channel=row["channel"],
            error_key=row["error_key"] or "unknown",
            count=row["n"],
            sample=row["sample"] or "",
        )
        for row in outbox.filter(
            status__in=(OutboxMessage.Status.FAILED, OutboxMessage.Status.SKIPPED)
        )
        .values("status", "channel", "error_key")
        .annotate(n=Count("id"), sample=Max("last_error"))
        .order_by("-n", "status", "channel", "error_key")
    ]

    reminders = [per_reminder[i] for i in sorted(per_reminder)]
    audience = distribution.audience_size
    if audience is None or distribution.kind == Distribution.Kind.AUTOMATIC:
        # An automatic distribution grows one customer at a time (its launch snapshot only
        # counts the segment's members served at activation): its audience so far.
        audience = sum(recipients.values())
    return DistributionMetrics(
        distribution=distribution,
        audience_size=audience,
        recipients=recipients,
        codes_published=codes["published"],
        codes_redeemed=codes["redeemed"],
        channels=list(per_channel.values()),
        totals=totals,
        reminders=reminders,
        reminders_sent=sum(r.sent for r in reminders),
        failures=failures,
        chart=_chart(distribution, now=now),
        activity=list(Activity.objects.filter(distribution_id=distribution_id)[:ACTIVITY_LIMIT]),
        generated_at=now,
    )


def _chart(distribution: Distribution, *, now: dt.datetime) -> ChartData:
    """Messages sent (reminders included) and codes redeemed per hour, day or week since
    launch, with zeros for empty buckets so the lines do not skip them (two queries)."""
    start = distribution.launched_at
    if start is None or start > now:
        return ChartData(granularity="hour")
    span = now - start
    tz: dt.tzinfo
    if span <= HOURLY_UP_TO:
        kind, tz = "hour", dt.UTC
        first = start.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        last = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        buckets = _steps(first, last, dt.timedelta(hours=1))
    else:
        kind = "day" if span <= DAILY_UP_TO else "week"
        tz = timezone.get_current_timezone()
        first_day = timezone.localtime(start, tz).date()
        last_day = timezone.localtime(now, tz).date()
        step = dt.timedelta(days=1)
        if kind == "week":
            first_day -= dt.timedelta(days=first_day.weekday())
            last_day -= dt.timedelta(days=last_day.weekday())
            step = dt.timedelta(weeks=1)
            first_day = max(first_day, last_day - step * (MAX_WEEKS - 1))
        buckets = _steps(first_day, last_day, step)
    since = _bucket_start(buckets[0], tz)

    def key(value: dt.datetime) -> Any:
        return value.astimezone(dt.UTC) if kind == "hour" else value.astimezone(tz).date()

    sent = {
        key(row["bucket"]): row["n"]
        for row in OutboxMessage.objects.filter(
            distribution_id=distribution.pk, status__in=SENT_STATUSES, sent_at__gte=since
        )
        .annotate(bucket=Trunc("sent_at", kind, tzinfo=tz))
        .values("bucket")
        .annotate(n=Count("id"))
        .order_by()
    }
    redeemed = {
        key(row["bucket"]): row["n"]
        for row in Redemption.objects.filter(
            status=Redemption.Status.SUCCEEDED,
            created_at__gte=since,
            voucher_id__in=Publication.objects.filter(distribution_id=distribution.pk).values(
                "voucher_id"
            ),
        )
        .annotate(bucket=Trunc("created_at", kind, tzinfo=tz))
        .values("bucket")
        .annotate(n=Count("id"))
        .order_by()
    }
    return ChartData(
        granularity=kind,
        labels=[_bucket_label(b, kind) for b in buckets],
        sent=[sent.get(b, 0) for b in buckets],
        redeemed=[redeemed.get(b, 0) for b in buckets],
    )


def _steps(first: Any, last: Any, step: dt.timedelta) -> list[Any]:
    out = [first]
    while out[-1] + step <= last:
        out.append(out[-1] + step)
    return out


def _bucket_start(bucket: Any, tz: Any) -> dt.datetime:
    if isinstance(bucket, dt.datetime):
        return bucket
    return dt.datetime.combine(bucket, dt.time.min, tzinfo=tz)


def _bucket_label(bucket: Any, kind: str) -> str:
    if kind == "hour":
        return timezone.localtime(bucket).strftime("%b %d %H:00")
    if kind == "week":
        return "Week of " + bucket.strftime("%b %d")
    return bucket.strftime("%b %d")
