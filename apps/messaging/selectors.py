"""Reads of the messaging app: channel cards and the outbox."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Q, QuerySet

from apps.messaging.models import Channel, ChannelAccount, OutboxMessage


def outbox_counts(*, since: datetime | None = None) -> dict[str, dict[str, int]]:
    """{channel: {status: count}} for the channel cards (one grouped query)."""
    rows = OutboxMessage.objects.all()
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    counts: dict[str, dict[str, int]] = {c: {} for c in Channel.values}
    for row in rows.values("channel", "status").annotate(n=Count("id")).order_by():
        counts[row["channel"]][row["status"]] = row["n"]
    return counts


def channel_cards(*, since: datetime | None = None) -> list[dict]:
    accounts = {a.channel: a for a in ChannelAccount.objects.all()}
    counts = outbox_counts(since=since)
    return [
        {
            "channel": value,
            "label": label,
            "account": accounts.get(value),
            "counts": counts[value],
            "total": sum(counts[value].values()),
        }
        for value, label in Channel.choices
    ]


def outbox_list(*, channel: str = "", status: str = "", q: str = "") -> QuerySet[OutboxMessage]:
    rows = OutboxMessage.objects.select_related("customer").order_by("-created_at", "-id")
    if channel:
        rows = rows.filter(channel=channel)
    if status:
        rows = rows.filter(status=status)
    if q:
        rows = rows.filter(Q(recipient__icontains=q) | Q(customer__name__icontains=q))
    return rows
