"""Reminders (partner schema): "N days after sending, if the code is still unredeemed".

A round (`reminders_send`, run every few minutes by the scheduled job or by
`manage.py send_reminders` from cron) looks, for every live, paused or completed distribution
with reminders, at its recipients messaged at least `days` ago whose code is still unredeemed,
and queues the reminder for them with one INSERT … SELECT per channel. `Recipient.reminders_sent`
records the highest reminder queued, and the outbox dedupe key
("d<dist>:c<customer>:<channel>:r<n>") makes each reminder go at most once per publication.

Reminders are queued only when due, so a code redeemed before then never gets one. A reminder
queued but not sent yet when its code is redeemed is skipped (reason "redeemed") at the start of
the next round; the send job itself does not look at redemptions, so what is left is the few
seconds between queueing and sending.

When the scheduler was stopped so long that several reminders are due at once, only the latest
is sent (rounds go from the last reminder to the first), so nobody gets two at once.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.campaigns.models import Voucher
from apps.core.sql import execute
from apps.distributions.models import Distribution, Recipient
from apps.distributions.pipeline.activity import activity_log
from apps.distributions.pipeline.fanout import message_templates, templates_ensure
from apps.messaging.bulk import outbox_insert_select
from apps.messaging.models import OutboxMessage

REDEEMED_REASON = "The code was redeemed before the reminder went out."
_RECIPIENTS = Recipient._meta.db_table
_VOUCHERS = Voucher._meta.db_table
_OUTBOX = OutboxMessage._meta.db_table
ACTIVE = [Distribution.Status.LIVE, Distribution.Status.PAUSED, Distribution.Status.COMPLETED]


def reminders_cancel_redeemed() -> int:
    """Skip queued reminders whose code has been redeemed since (one UPDATE)."""
    return execute(
        f"UPDATE {_OUTBOX} o SET status = 'skipped', error_key = 'redeemed', "  # noqa: S608 - model table names
        "last_error = %s, updated_at = now() "
        f"FROM {_VOUCHERS} v "
        "WHERE o.reminder_index > 0 AND o.status = 'pending' AND o.distribution_id IS NOT NULL "
        "AND v.id = o.voucher_id AND v.redeemed_quantity > 0",
        [REDEEMED_REASON],
    )


def _due_recipients(distribution: Distribution, index: int, days: int) -> list[int]:
    """Mark the recipients due for reminder `index` (messaged `days` ago or more, code still
    unredeemed, this reminder not sent) and return their customer ids."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_RECIPIENTS} r SET reminders_sent = %(index)s "  # noqa: S608 - model table names
            f"FROM {_VOUCHERS} v "
            "WHERE r.distribution_id = %(distribution)s AND r.status = 'messaged' "
            "AND r.reminders_sent < %(index)s "
            "AND r.messaged_at <= now() - make_interval(days => %(days)s) "
            "AND v.id = r.voucher_id AND v.redeemed_quantity = 0 "
            "RETURNING r.customer_id",
            {"index": index, "distribution": distribution.pk, "days": days},
        )
        return [row[0] for row in cursor.fetchall()]


def distribution_reminders_send(distribution_id: int) -> dict[int, int]:
    """Queue the due reminders of one distribution; returns {reminder index: recipients}."""
    sent: dict[int, int] = {}
    with transaction.atomic():
        distribution = Distribution.objects.select_for_update().filter(pk=distribution_id).first()
        if distribution is None or distribution.status not in ACTIVE:
            return sent
        reminders = distribution.reminders or []
        if not reminders:
            return sent
        templates_ensure(distribution)
        for index in range(len(reminders), 0, -1):
            days = int(reminders[index - 1].get("days") or 0)
            if days < 1:
                continue
            ids = _due_recipients(distribution, index, days)
            if not ids:
                continue
            source = (
                f"SELECT r.customer_id, r.voucher_id FROM {_RECIPIENTS} r "  # noqa: S608 - model table name
                "WHERE r.distribution_id = %(rem_distribution)s "
                "AND r.customer_id = ANY(%(rem_ids)s::bigint[])"
            )
            params = {"rem_distribution": distribution.pk, "rem_ids": ids}
            for template in message_templates(distribution, index):
                outbox_insert_select(
                    template=template,
                    source_sql=source,
                    params=params,
                    distribution_id=distribution.pk,
                    reminder_index=index,
                )
            sent[index] = len(ids)
        if sent:
            summary = ", ".join(f"reminder {i} to {n:,}" for i, n in sorted(sent.items()))
            activity_log(
                distribution,
                "reminders",
                f"Reminders queued: {summary} customers.",
                sent={str(i): n for i, n in sent.items()},
            )
    return sent


def reminders_send() -> dict[str, Any]:
    """One reminder round for the current schema."""
    canceled = reminders_cancel_redeemed()
    ids = (
        Distribution.objects.filter(status__in=ACTIVE)
        .exclude(reminders=[])
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    distributions = 0
    queued = 0
    for distribution_id in list(ids):
        sent = distribution_reminders_send(distribution_id)
        if sent:
            distributions += 1
            queued += sum(sent.values())
    return {
        "distributions": distributions,
        "recipients": queued,
        "canceled": canceled,
        "at": timezone.now().isoformat(),
    }
