"""Queue many templated messages with one INSERT … SELECT.

A bulk sender (a distribution's fan-out or reminder round) stores its content once as a
`MessageTemplate` and hands over a SELECT of (customer_id, voucher_id) pairs; this module
inserts one outbox row per pair, decides in SQL whether each may go (address, consent), and
leaves rendering to the send job, which renders a row for its customer and code when it claims
it. `dedupe_key` (one per distribution, customer, channel and reminder) makes a second run
insert nothing."""

from __future__ import annotations

from typing import Any

from django.db import connection

from apps.messaging.models import Channel, ChannelAccount, MessageTemplate
from apps.messaging.queue import outbox_kick
from apps.messaging.rules import ADDRESS_FIELD, skip_reason_params, skip_reason_sql


def template_create(*, channel: str, content: dict[str, Any]) -> MessageTemplate:
    if channel not in Channel.values:
        raise ValueError(f"unknown channel {channel!r}")
    return MessageTemplate.objects.create(channel=channel, content=content)


def dedupe_key(distribution_id: int, customer_id: int, channel: str, reminder: int) -> str:
    return f"d{distribution_id}:c{customer_id}:{channel}:r{reminder}"


_INSERT_SQL = """
INSERT INTO messaging_outboxmessage (
    channel, account_id, sandbox, customer_id, voucher_id, recipient, subject, body_text,
    body_html, payload, status, provider_id, attempts, error_key, last_error, result,
    dedupe_key, distribution_id, reminder_index, template_id, created_at, updated_at)
SELECT %(channel)s, %(account_id)s, %(sandbox)s, c.id, src.voucher_id,
       COALESCE(c.{address}, ''), '', '', '', '{{}}'::jsonb,
       CASE WHEN {reason} = '' THEN 'pending' ELSE 'skipped' END,
       '', 0,
       {reason},
       {reason_text},
       '{{}}'::jsonb,
       'd' || %(distribution_id)s || ':c' || c.id || ':' || %(channel)s || ':r' || %(reminder)s,
       %(distribution_id)s, %(reminder)s, %(template_id)s, now(), now()
  FROM ({source}) AS src(customer_id, voucher_id)
  JOIN customers_customer c ON c.id = src.customer_id
ON CONFLICT (dedupe_key) DO NOTHING
"""


def outbox_insert_select(
    *,
    template: MessageTemplate,
    source_sql: str,
    params: dict[str, Any],
    distribution_id: int,
    reminder_index: int = 0,
) -> int:
    """Insert one message per row of `source_sql` (which selects customer_id, voucher_id and
    may use `params`); returns how many rows were inserted (existing keys are skipped).
    Send jobs start when the transaction commits."""
    channel = template.channel
    account = ChannelAccount.objects.filter(channel=channel).first()
    sql = _INSERT_SQL.format(
        source=source_sql,
        address=ADDRESS_FIELD[channel],
        reason=skip_reason_sql(channel, alias="c"),
        reason_text=skip_reason_sql(channel, alias="c", text=True),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                **params,
                "channel": channel,
                "account_id": account.pk if account else None,
                "sandbox": account is None,
                **skip_reason_params(),
                "distribution_id": distribution_id,
                "reminder": reminder_index,
                "template_id": template.pk,
            },
        )
        inserted = cursor.rowcount
    if inserted:
        outbox_kick(channel)
    return inserted
