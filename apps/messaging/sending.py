"""The send engine: drain a channel's pending outbox rows through its adapter (the send job,
apps.messaging.jobs.outbox_send_job, runs `outbox_send`).

- A job claims a batch with one conditional UPDATE (PENDING → SENDING, `FOR UPDATE SKIP
  LOCKED`), so two workers never take the same row and a job run twice sends once.
- It sends the batch over one connection where the provider allows it and records every
  outcome with one UPDATE.
- Retryable failures go back to PENDING with a backoff (or the provider's Retry-After) until
  MESSAGING_MAX_ATTEMPTS; permanent ones fail at once with their reason.
- A row left in SENDING by a worker that died is failed as `outcome_unknown`, never sent again:
  a message goes at most once (ARCHITECTURE section 6).
- Each account's rate limit (messages per second) is a counter in Redis that every worker
  shares.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.core.db import tenant_connection
from apps.core.redis import redis_client
from apps.messaging.adapters import adapter_for
from apps.messaging.adapters.base import (
    Adapter,
    ChannelError,
    OutgoingMessage,
    SendResult,
)
from apps.messaging.compose import ChannelContent, compose
from apps.messaging.models import ChannelAccount, OutboxMessage
from apps.messaging.queue import schedule_send
from apps.messaging.rules import CONSENT_FIELD, SKIP_REASONS
from apps.tenancy.current import current_partner

logger = logging.getLogger(__name__)
Status = OutboxMessage.Status

# A row claimed longer ago than this belongs to a worker that died mid-send.
STALE_AFTER = timedelta(minutes=10)


def outbox_send(channel: str, *, max_batches: int | None = None) -> dict[str, int]:
    """Send due pending messages of `channel` until none are left; returns counts."""
    totals = {"sent": 0, "failed": 0, "retry": 0, "skipped": 0}
    fail_stale(channel)
    batches = 0
    while max_batches is None or batches < max_batches:
        claimed = claim(channel, settings.MESSAGING_BATCH_SIZE)
        if not claimed:
            break
        batches += 1
        for key, count in send_claimed(claimed).items():
            totals[key] += count
    retry_at = (
        OutboxMessage.objects.filter(
            channel=channel, status=Status.PENDING, next_attempt_at__isnull=False
        )
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if retry_at is not None:
        wait = max(1.0, (retry_at - timezone.now()).total_seconds())
        schedule_send(tenant_connection.schema_name, channel, delay=wait)
    return totals


def fail_stale(channel: str) -> int:
    return OutboxMessage.objects.filter(
        channel=channel, status=Status.SENDING, claimed_at__lt=timezone.now() - STALE_AFTER
    ).update(
        status=Status.FAILED,
        error_key="outcome_unknown",
        last_error=(
            "The worker stopped while sending; the message was not sent again so that nobody "
            "receives it twice."
        ),
        updated_at=timezone.now(),
    )


# ORDER BY follows outbox_pending_idx (channel, next_attempt_at, id; ascending, so NULLs last):
# PostgreSQL walks the index and stops after LIMIT rows. Any other order (NULLS FIRST) sorts
# every pending row of the channel on each claim, which makes draining a queue quadratic.
_CLAIM_SQL = """
UPDATE messaging_outboxmessage m
   SET status = 'sending', claimed_at = now(), attempts = m.attempts + 1, updated_at = now()
  FROM (SELECT id FROM messaging_outboxmessage
         WHERE status = 'pending' AND channel = %s
           AND (next_attempt_at IS NULL OR next_attempt_at <= now())
         ORDER BY next_attempt_at, id
         LIMIT %s
         FOR UPDATE SKIP LOCKED) picked
 WHERE m.id = picked.id AND m.status = 'pending'
RETURNING m.id
"""


def claim(channel: str, limit: int) -> list[OutboxMessage]:
    """Take up to `limit` due pending rows for this worker (PENDING → SENDING)."""
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [channel, limit])
        ids = [row[0] for row in cursor.fetchall()]
    if not ids:
        return []
    return list(
        OutboxMessage.objects.filter(pk__in=ids)
        .select_related("account", "customer", "template", "voucher__campaign")
        .order_by("id")
    )


def send_claimed(messages: list[OutboxMessage]) -> dict[str, int]:
    """Deliver claimed rows, grouped by account, and record every outcome."""
    counts = {"sent": 0, "failed": 0, "retry": 0, "skipped": 0}
    outcomes: list[dict[str, Any]] = []
    groups: dict[tuple[bool, int | None], list[OutboxMessage]] = {}
    rendered = _render_templated(messages)
    for message in messages:
        if message.pk in rendered and isinstance(rendered[message.pk], ChannelError):
            outcomes.append(_failed(message, rendered[message.pk]))  # type: ignore[arg-type]
            continue
        # Consent may have been withdrawn since the message was queued.
        if message.customer is not None and not getattr(
            message.customer, CONSENT_FIELD[message.channel]
        ):
            outcomes.append(_skipped(message, "no_consent"))
            continue
        if not message.sandbox and message.account_id is None:
            outcomes.append(
                _failed(
                    message,
                    ChannelError(
                        "account_removed",
                        "The channel account was disconnected before the message was sent.",
                    ),
                )
            )
            continue
        groups.setdefault((message.sandbox, message.account_id), []).append(message)

    for (sandbox, _account_id), group in groups.items():
        account = None if sandbox else group[0].account
        try:
            adapter = adapter_for(group[0].channel, account)
        except Exception as exc:  # unreadable secrets, a missing SDK: fail with the reason
            error = (
                exc if isinstance(exc, ChannelError) else ChannelError("misconfigured", str(exc))
            )
            outcomes.extend(_failed(m, error) for m in group)
            continue
        for chunk in _send_rate_limited(adapter, account, group):
            # Recorded per chunk, not per batch: a delivery report can arrive within seconds
            # and must find the provider id already stored.
            done = []
            for message, result in chunk:
                if isinstance(result, SendResult):
                    done.append(_sent(message, result))
                elif result.retryable and message.attempts < settings.MESSAGING_MAX_ATTEMPTS:
                    done.append(_retry(message, result))
                else:
                    done.append(_failed(message, result))
            _count(counts, done)
            _record(done)
    _count(counts, outcomes)
    _record(outcomes)
    return counts


def _render_templated(messages: list[OutboxMessage]) -> dict[int, Any]:
    """Render rows queued from a MessageTemplate (bulk senders) for their customer and code,
    in place; the rendered content is stored with the outcome. Returns {id: True} for rows
    rendered and {id: ChannelError} for rows whose template cannot be rendered."""
    templated = [m for m in messages if m.template_id and not m.payload.get("rendered")]
    if not templated:
        return {}
    partner = current_partner()
    results: dict[int, Any] = {}
    for message in templated:
        if message.customer is None:
            results[message.pk] = ChannelError(
                "no_customer", "The customer was deleted before the message was sent."
            )
            continue
        assert message.template is not None  # `templated` rows have a template_id
        try:
            draft = compose(
                channel=message.channel,
                content=ChannelContent.from_dict(message.template.content),
                customer=message.customer,
                voucher=message.voucher,
                partner=partner,
                account=message.account,
            )
        except Exception as exc:  # a template that no longer renders must not stop the batch
            logger.exception("outbox message %s could not be rendered", message.pk)
            results[message.pk] = ChannelError(
                "invalid_template", f"The message could not be written: {exc}"[:300]
            )
            continue
        message.subject, message.body_text, message.body_html = (
            draft.subject[:300],
            draft.body_text,
            draft.body_html,
        )
        message.payload = {**draft.payload, "rendered": True}
        results[message.pk] = True
    return results


def _content(message: OutboxMessage) -> dict[str, Any]:
    """The rendered content to store with an outcome (templated rows only)."""
    if not message.template_id or not message.payload.get("rendered"):
        return {}
    return {
        "subject": message.subject,
        "body_text": message.body_text,
        "body_html": message.body_html,
        "payload": message.payload,
    }


def _count(counts: dict[str, int], outcomes: list[dict[str, Any]]) -> None:
    for outcome in outcomes:
        counts[outcome.pop("_count")] += 1


def _send_rate_limited(
    adapter: Adapter, account: ChannelAccount | None, group: list[OutboxMessage]
) -> Iterator[list[tuple[OutboxMessage, SendResult | ChannelError]]]:
    """Send `group` through one `send_many` call (one SMTP connection for the batch), feeding
    it messages as the account's rate limit allows; yields results in small chunks (every 50
    messages or every second) so they are recorded before delivery reports can arrive."""
    by_id = {m.pk: m for m in group}

    def feed() -> Iterator[OutgoingMessage]:
        position = 0
        while position < len(group):
            take = len(group) - position
            if account is not None:
                take = acquire(
                    f"{tenant_connection.schema_name}:{account.pk}", account.rate_limit, take
                )
            for message in group[position : position + take]:
                yield _outgoing(message)
            position += take

    chunk: list[tuple[OutboxMessage, SendResult | ChannelError]] = []
    flushed = time.monotonic()
    for outgoing, result in adapter.send_many(feed()):
        chunk.append((by_id[outgoing.id], result))
        if len(chunk) >= 50 or time.monotonic() - flushed >= 1:
            yield chunk
            chunk, flushed = [], time.monotonic()
    if chunk:
        yield chunk


def acquire(bucket: str, per_second: int, wanted: int) -> int:
    """Take up to `wanted` sends from a per-second budget shared by every worker; waits for the
    next second when this one is spent. Returns how many may go now (at least 1)."""
    per_second = max(1, per_second)
    client = redis_client()
    while True:
        second = int(time.time())
        key = f"outbox:rate:{bucket}:{second}"
        ask = min(wanted, per_second)
        pipe = client.pipeline()
        pipe.incrby(key, ask)
        pipe.expire(key, 2)
        used = pipe.execute()[0]
        granted = min(ask, per_second - (used - ask))
        if granted > 0:
            return granted
        time.sleep(max(0.01, second + 1 - time.time()))


def _outgoing(message: OutboxMessage) -> OutgoingMessage:
    payload = dict(message.payload)
    payload.pop("rendered", None)
    return OutgoingMessage(
        id=message.pk,
        channel=message.channel,
        to=message.recipient,
        subject=message.subject,
        text=message.body_text,
        html=message.body_html,
        name=message.customer.name if message.customer else "",
        headers=payload.pop("headers", {}),
        payload=payload,
        status_callback=payload.pop("status_callback", ""),
    )


def _outcome(message: OutboxMessage, status: str, count: str, **columns: Any) -> dict[str, Any]:
    """One row for _RECORD_SQL: every column it sets, with the values of a message that was
    not sent unless `columns` says otherwise; `_count` names the counter it adds to."""
    return {
        "id": message.pk,
        "status": status,
        "provider_id": "",
        "error_key": "",
        "last_error": "",
        "result": {},
        "next_attempt_at": None,
        "sent": False,
        "_count": count,
        **columns,
    }


def _sent(message: OutboxMessage, result: SendResult) -> dict[str, Any]:
    status = Status.DELIVERED if result.status == "delivered" else Status.SENT
    return _outcome(
        message,
        status,
        "sent",
        provider_id=result.provider_id[:120],
        result=result.detail,
        sent=True,
        **_content(message),
    )


def _retry(message: OutboxMessage, error: ChannelError) -> dict[str, Any]:
    backoff = settings.MESSAGING_RETRY_BASE * (2 ** (message.attempts - 1))
    delay = max(error.retry_after or 0, backoff * random.uniform(0.8, 1.2))  # noqa: S311
    return _outcome(
        message,
        Status.PENDING,
        "retry",
        error_key=error.key[:60],
        last_error=f"{error.reason} Retrying (attempt {message.attempts}).".strip()[:500],
        next_attempt_at=(timezone.now() + timedelta(seconds=delay)).isoformat(),
        **_content(message),
    )


def _failed(message: OutboxMessage, error: ChannelError) -> dict[str, Any]:
    return _outcome(
        message,
        Status.FAILED,
        "failed",
        error_key=error.key[:60],
        last_error=error.reason[:500],
        **_content(message),
    )


def _skipped(message: OutboxMessage, reason: str) -> dict[str, Any]:
    # Nothing rendered is stored: a skipped row keeps the content it was queued with.
    return _outcome(
        message, Status.SKIPPED, "skipped", error_key=reason, last_error=SKIP_REASONS[reason]
    )


_RECORD_SQL = """
UPDATE messaging_outboxmessage m
   SET status = x.status,
       provider_id = CASE WHEN x.provider_id <> '' THEN x.provider_id ELSE m.provider_id END,
       error_key = x.error_key,
       last_error = x.last_error,
       result = x.result,
       next_attempt_at = x.next_attempt_at,
       sent_at = CASE WHEN x.sent THEN now() ELSE m.sent_at END,
       delivered_at = CASE WHEN x.status = 'delivered' THEN now() ELSE m.delivered_at END,
       subject = COALESCE(x.subject, m.subject),
       body_text = COALESCE(x.body_text, m.body_text),
       body_html = COALESCE(x.body_html, m.body_html),
       payload = COALESCE(x.payload, m.payload),
       updated_at = now()
  FROM jsonb_to_recordset(%s::jsonb) AS x(
       id bigint, status text, provider_id text, error_key text, last_error text,
       result jsonb, next_attempt_at timestamptz, sent boolean,
       subject text, body_text text, body_html text, payload jsonb)
 WHERE m.id = x.id AND m.status = 'sending'
"""


def _record(outcomes: list[dict[str, Any]]) -> None:
    """Every outcome of a batch in one statement; only rows still SENDING change."""
    if not outcomes:
        return
    with connection.cursor() as cursor:
        cursor.execute(_RECORD_SQL, [json.dumps(outcomes, default=str)])
