"""The fan-out of a distribution (partner schema): from an audience to one code and one queued
message per channel for every customer, in set-based batches.

1. Resolve: one INSERT … SELECT … ON CONFLICT DO NOTHING turns the audience into Recipient rows
   (status waiting). Done once per distribution, recorded by an "audience" Activity line in the
   same transaction.
2. Serve, batch by batch, each batch one transaction holding the distribution's row lock:
   publish one code per waiting recipient (`vouchers_publish_bulk`), queue one outbox row per
   recipient and channel from the publications (`outbox_insert_select`, one INSERT … SELECT
   per channel), and record code and messages on the recipients (one UPDATE … FROM).

Why it is exact: a batch commits whole or not at all, so a worker killed halfway leaves every
recipient either messaged or still waiting, and the next run takes the waiting ones. A
publication is unique per (distribution, customer) and an outbox row per dedupe key, so a
second run (even a concurrent one, which waits on the row lock) adds nothing twice.

When the pool runs out, the customers left without a code stay waiting and the distribution is
paused with pause_reason "pool_empty"; `distributions_resume_pool_paused()` (called after a
top-up) sets it live again and re-runs the fan-out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.campaigns.models import Voucher
from apps.core.sql import execute
from apps.customers.models import Publication
from apps.customers.publications import PublicationError, vouchers_publish_bulk
from apps.distributions.models import Activity, Distribution, Recipient
from apps.distributions.pipeline.activity import (
    PAUSED_CAMPAIGN,
    PAUSED_POOL_EMPTY,
    RESOLVED,
    activity_log,
)
from apps.distributions.pipeline.audience import audience_customer_ids_sql, reminder_channels
from apps.distributions.pipeline.queue import enqueue_consume, enqueue_fanout
from apps.messaging.bulk import outbox_insert_select, template_create
from apps.messaging.compose import ChannelContent
from apps.messaging.models import MessageTemplate, OutboxMessage

logger = logging.getLogger(__name__)

# Recipients per batch (one transaction). Bigger batches mean fewer statements and fewer
# rescans of the published part of the pool; 10,000 keeps a batch around a second or two.
BATCH_SIZE = 10_000
PUBLICATION_CHANNEL = "distribution"
# Keys the pipeline adds to a launched distribution's content; a duplicate drops them.
PIPELINE_KEYS = ("template_id",)

_RECIPIENTS = Recipient._meta.db_table
_PUBLICATIONS = Publication._meta.db_table
Status = Distribution.Status
RStatus = Recipient.Status


# --- Templates -------------------------------------------------------------------------------


def _template_content(values: dict[str, Any]) -> dict[str, Any]:
    fields = ChannelContent.__dataclass_fields__
    return {k: v for k, v in values.items() if k in fields}


def templates_ensure(distribution: Distribution) -> None:
    """Store each channel's message (and each reminder's) once as a MessageTemplate and keep
    its id in the content (`content[channel]["template_id"]`): outbox rows point at it and the
    send job renders them. The content is frozen after launch, so the ids stay right. Creates
    only what is missing; callers hold the distribution's row (launch or a locked batch)."""
    changed = False
    content = {k: dict(v or {}) for k, v in (distribution.content or {}).items()}
    for channel in distribution.channels or []:
        values = content.setdefault(channel, {})
        if not values.get("template_id"):
            values["template_id"] = template_create(
                channel=channel, content=_template_content(values)
            ).pk
            changed = True
    reminders = []
    for reminder in distribution.reminders or []:
        reminder = dict(reminder)
        reminder["content"] = {k: dict(v or {}) for k, v in (reminder.get("content") or {}).items()}
        for channel in reminder_channels(distribution):
            values = reminder["content"].get(channel)
            if values is not None and not values.get("template_id"):
                values["template_id"] = template_create(
                    channel=channel, content=_template_content(values)
                ).pk
                changed = True
        reminders.append(reminder)
    if changed:
        distribution.content = content
        distribution.reminders = reminders
        Distribution.objects.filter(pk=distribution.pk).update(content=content, reminders=reminders)


def message_templates(distribution: Distribution, reminder: int = 0) -> list[MessageTemplate]:
    """The templates of the message (reminder 0) or of reminder `reminder` (1-based), one per
    channel in the distribution's channel order (a reminder: its channels that have content;
    never MailChimp)."""
    if reminder:
        content = distribution.reminders[reminder - 1].get("content") or {}
        channels = reminder_channels(distribution)
    else:
        content = distribution.content or {}
        channels = distribution.channels
    ids = [(content.get(channel) or {}).get("template_id") for channel in channels]
    found = MessageTemplate.objects.in_bulk([pk for pk in ids if pk])
    return [found[pk] for pk in ids if pk in found]


# --- Resolve ---------------------------------------------------------------------------------


def recipients_resolve(distribution: Distribution) -> int:
    """Insert the audience as waiting recipients (once; the caller holds the row lock)."""
    if Activity.objects.filter(distribution=distribution, kind=RESOLVED).exists():
        return 0
    sql, params = audience_customer_ids_sql(distribution)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_RECIPIENTS} (distribution_id, customer_id, status, created_at, "  # noqa: S608 - model table names
            "reminders_sent) "
            f"SELECT %(fan_distribution_id)s, audience.customer_id, 'waiting', now(), 0 "
            f"FROM ({sql}) audience WHERE audience.customer_id IS NOT NULL "
            "ON CONFLICT (distribution_id, customer_id) DO NOTHING",
            {**params, "fan_distribution_id": distribution.pk},
        )
        added = cursor.rowcount
    # The audience as actually resolved (the segment may have moved since the launch click).
    Distribution.objects.filter(pk=distribution.pk).update(audience_size=added)
    distribution.audience_size = added
    activity_log(
        distribution, RESOLVED, f"Audience resolved: {added:,} customers to serve.", added=added
    )
    return added


# --- Serve -----------------------------------------------------------------------------------


@dataclass
class BatchOutcome:
    picked: int = 0  # recipients taken from the work list
    published: int = 0  # codes published in this batch
    messaged: int = 0  # recipients whose messages were queued
    queued: int = 0  # outbox rows inserted (all channels; skipped ones included)
    unserved: int = 0  # recipients left waiting because the pool ran out
    blocked: str = ""  # why nothing could be published (campaign unusable), if so


def recipients_serve(distribution: Distribution, *, limit: int = BATCH_SIZE) -> BatchOutcome:
    """Serve up to `limit` waiting recipients: publish, queue, record. Runs in the
    caller's transaction, which must hold the distribution's row lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT customer_id FROM {_RECIPIENTS} "  # noqa: S608 - model table name
            "WHERE distribution_id = %s AND status IN ('waiting', 'published') "
            "ORDER BY id LIMIT %s",
            [distribution.pk, limit],
        )
        ids = [row[0] for row in cursor.fetchall()]
    outcome = BatchOutcome(picked=len(ids))
    if not ids:
        return outcome
    assert distribution.campaign is not None  # launched with one, kept (PROTECT, drafts only)
    try:
        result = vouchers_publish_bulk(
            campaign=distribution.campaign,
            customer_ids=ids,
            channel=PUBLICATION_CHANNEL,
            distribution_id=distribution.pk,
        )
    except PublicationError as exc:
        outcome.blocked = exc.message
        return outcome
    outcome.published = result.created
    outcome.unserved = len(result.unserved)
    params: dict[str, Any] = {"fan_distribution_id": distribution.pk, "fan_ids": ids}
    # The messages read the codes straight from this distribution's publications (new ones,
    # or ones made earlier by another path); one UPDATE then records code and messages on
    # the recipients. The batch is one transaction, so "published but not messaged" is never
    # seen outside it.
    source = (
        f"SELECT p.customer_id, p.voucher_id FROM {_PUBLICATIONS} p "  # noqa: S608 - model table name
        "WHERE p.distribution_id = %(fan_distribution_id)s "
        "AND p.customer_id = ANY(%(fan_ids)s::bigint[])"
    )
    for template in message_templates(distribution):
        outcome.queued += outbox_insert_select(
            template=template, source_sql=source, params=params, distribution_id=distribution.pk
        )
    outcome.messaged = execute(
        f"UPDATE {_RECIPIENTS} r SET status = 'messaged', messaged_at = now(), "  # noqa: S608 - model table names
        "publication_id = p.id, voucher_id = p.voucher_id "
        f"FROM {_PUBLICATIONS} p "
        "WHERE r.distribution_id = %(fan_distribution_id)s "
        "AND r.customer_id = ANY(%(fan_ids)s::bigint[]) AND r.status <> 'messaged' "
        "AND p.distribution_id = %(fan_distribution_id)s AND p.customer_id = r.customer_id",
        params,
    )
    return outcome


def waiting_count(distribution: Distribution) -> int:
    return Recipient.objects.filter(
        distribution=distribution, status__in=[RStatus.WAITING, RStatus.PUBLISHED]
    ).count()


def pause_for(distribution: Distribution, outcome: BatchOutcome) -> bool:
    """After a batch: pause when the pool ran out or the campaign cannot publish. True when
    the distribution was paused (the caller stops)."""
    if outcome.blocked:
        reason, message = PAUSED_CAMPAIGN, f"Paused: {outcome.blocked}"
    elif outcome.unserved:
        waiting = waiting_count(distribution)
        reason = PAUSED_POOL_EMPTY
        message = f"Paused: the pool is empty — {waiting:,} customers wait for a code."
    else:
        return False
    changed = Distribution.objects.filter(pk=distribution.pk, status=Status.LIVE).update(
        status=Status.PAUSED, pause_reason=reason, updated_at=timezone.now()
    )
    if changed:
        activity_log(distribution, "paused", message, reason=reason)
    return True


def _no_jit() -> None:
    """The batch statements are short, but the planner's guesses for their CTEs are far off
    (millions of rows for 10,000), which makes PostgreSQL JIT-compile them: ~2 s per
    statement for nothing. Off for this transaction only."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")


def locked_live(distribution_id: int) -> Distribution | None:
    _no_jit()
    distribution = (
        Distribution.objects.select_for_update(of=("self",))
        .select_related("campaign")
        .filter(pk=distribution_id)
        .first()
    )
    if distribution is None or distribution.status != Status.LIVE:
        return None
    return distribution


def _resolves(distribution: Distribution) -> bool:
    if distribution.kind == Distribution.Kind.MANUAL:
        return True
    return (
        distribution.audience == Distribution.Audience.SEGMENT
        and distribution.include_current_members
    )


@dataclass
class ServeTotals:
    """What a run of served batches added up to and how it ended (the fan-out and the
    automatic consumption both serve recipients batch by batch); `as_dict` is its job's
    result."""

    published: int = 0
    queued: int = 0
    paused: bool = False
    stopped: bool = False  # not live (paused, archived, …), or a limit reached

    def add(self, distribution: Distribution, outcome: BatchOutcome) -> bool:
        """Count a served batch, then pause the distribution if the batch calls for it
        (`pause_for`); True when paused, and the run stops."""
        self.published += outcome.published
        self.queued += outcome.queued
        self.paused = pause_for(distribution, outcome)
        return self.paused

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class FanoutResult(ServeTotals):
    batches: int = 0
    messaged: int = 0
    completed: bool = False


def fanout_run(
    distribution_id: int, *, batch_size: int = BATCH_SIZE, max_batches: int | None = None
) -> FanoutResult:
    """Serve every waiting recipient of a live distribution, batch by batch; complete a manual
    distribution when nobody is left. Safe to run twice, concurrently, or after a crash.
    `max_batches` stops early (tests use it to stand for a worker killed halfway)."""
    result = FanoutResult()
    with transaction.atomic():
        distribution = locked_live(distribution_id)
        if distribution is None:
            result.stopped = True
            return result
        templates_ensure(distribution)
        if _resolves(distribution):
            recipients_resolve(distribution)
    while True:
        if max_batches is not None and result.batches >= max_batches:
            result.stopped = True
            return result
        with transaction.atomic():
            distribution = locked_live(distribution_id)
            if distribution is None:
                result.stopped = True
                return result
            outcome = recipients_serve(distribution, limit=batch_size)
            if outcome.picked == 0:
                result.completed = _complete(distribution)
                return result
            result.batches += 1
            result.messaged += outcome.messaged
            if result.add(distribution, outcome):
                return result


def _complete(distribution: Distribution) -> bool:
    """Nobody is left waiting: a manual distribution is done."""
    if distribution.kind != Distribution.Kind.MANUAL:
        return False
    changed = Distribution.objects.filter(pk=distribution.pk, status=Status.LIVE).update(
        status=Status.COMPLETED, completed_at=timezone.now(), updated_at=timezone.now()
    )
    if not changed:
        return False
    codes = Recipient.objects.filter(distribution=distribution, status=RStatus.MESSAGED).count()
    messages = OutboxMessage.objects.filter(
        distribution_id=distribution.pk, reminder_index=0
    ).count()
    activity_log(
        distribution,
        "completed",
        f"Completed: {codes:,} codes published and {messages:,} messages queued.",
        codes=codes,
        messages=messages,
    )
    return True


# --- Resume after a top-up -------------------------------------------------------------------


def distributions_resume_pool_paused() -> list[int]:
    """Set live again every distribution of the current schema paused because its pool ran
    out whose campaign has free codes now, and re-run its fan-out (and, for an automatic one,
    its event consumption). Call it after codes were added (allocation or top-up job)."""
    free = Voucher.objects.available()
    candidates = Distribution.objects.filter(
        status=Status.PAUSED, pause_reason=PAUSED_POOL_EMPTY
    ).values_list("pk", "campaign_id", "kind")
    resumed = []
    for pk, campaign_id, kind in candidates:
        left = free.filter(campaign_id=campaign_id).count()
        if not left:
            continue
        with transaction.atomic():
            changed = Distribution.objects.filter(
                pk=pk, status=Status.PAUSED, pause_reason=PAUSED_POOL_EMPTY
            ).update(status=Status.LIVE, pause_reason="", updated_at=timezone.now())
            if not changed:
                continue
            activity_log(pk, "resumed", f"Resumed: the pool has {left:,} codes again.", left=left)
            enqueue_fanout(pk)
            if kind == Distribution.Kind.AUTOMATIC:
                enqueue_consume(pk)
        resumed.append(pk)
    return resumed
