"""Writes of the messaging app: queue messages, record provider feedback, opt customers out.

`outbox_queue` is for messages one at a time (the "send a test" form, the demo): the caller
hands over rendered content (apps.messaging.compose). Bulk senders (a distribution's fan-out
and its reminders) do not come here: they queue a template for many customers with one
INSERT … SELECT (apps.messaging.bulk), and the send engine renders each row when it claims it
(apps.messaging.sending). Both paths decide whether a message may go by the same rule
(apps.messaging.rules), bind it to the channel's account or to the sandbox, and start the
send jobs once the transaction commits (apps.messaging.queue)."""

from __future__ import annotations

import logging
import secrets as token_source
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.customers.events import event_record
from apps.customers.fields import consent_columns
from apps.customers.models import Customer
from apps.messaging.adapters import adapter_for
from apps.messaging.adapters.base import ChannelError
from apps.messaging.crypto import SecretsUnreadable, decrypt_secrets, encrypt_secrets, hint
from apps.messaging.models import Channel, ChannelAccount, OutboxMessage
from apps.messaging.queue import outbox_kick
from apps.messaging.rules import ADDRESS_FIELD, CONSENT_CHANNEL, SKIP_REASONS, skip_reason

logger = logging.getLogger(__name__)
Status = OutboxMessage.Status


@dataclass
class Draft:
    """One message to queue. `customer` None means an explicit recipient typed by staff (a
    test message): no consent check applies."""

    channel: str
    customer: Customer | None = None
    recipient: str = ""
    subject: str = ""
    body_text: str = ""
    body_html: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    voucher_id: int | None = None
    dedupe_key: str | None = None
    distribution_id: int | None = None
    reminder_index: int = 0


def accounts_by_channel() -> dict[str, ChannelAccount]:
    return {account.channel: account for account in ChannelAccount.objects.all()}


def outbox_queue(drafts: list[Draft]) -> list[OutboxMessage]:
    """Store the messages (one INSERT; a draft whose `dedupe_key` exists already is left out)
    and start the send jobs after commit. Returns the rows (ids set on rows without a
    dedupe key)."""
    accounts = accounts_by_channel()
    rows = []
    now = timezone.now()
    for draft in drafts:
        if draft.channel not in Channel.values:
            raise ValueError(f"unknown channel {draft.channel!r}")
        recipient = draft.recipient
        if not recipient and draft.customer is not None:
            recipient = getattr(draft.customer, ADDRESS_FIELD[draft.channel]) or ""
        reason = skip_reason(draft.channel, draft.customer, recipient)
        account = accounts.get(draft.channel)
        rows.append(
            OutboxMessage(
                channel=draft.channel,
                account=account,
                sandbox=account is None,
                customer=draft.customer,
                voucher_id=draft.voucher_id,
                recipient=recipient,
                subject=draft.subject,
                body_text=draft.body_text,
                body_html=draft.body_html,
                payload=draft.payload,
                status=Status.SKIPPED if reason else Status.PENDING,
                error_key=reason,
                last_error=SKIP_REASONS.get(reason, ""),
                dedupe_key=draft.dedupe_key,
                distribution_id=draft.distribution_id,
                reminder_index=draft.reminder_index,
                created_at=now,
            )
        )
    # Rows with a dedupe key may exist already: ON CONFLICT DO NOTHING (their ids stay unset);
    # the others get their ids back.
    plain = [row for row in rows if row.dedupe_key is None]
    keyed = [row for row in rows if row.dedupe_key is not None]
    created = OutboxMessage.objects.bulk_create(plain) if plain else []
    if keyed:
        created += OutboxMessage.objects.bulk_create(keyed, ignore_conflicts=True)
    channels = {row.channel for row in rows if row.status == Status.PENDING}
    for channel in channels:
        outbox_kick(channel)
    return created


# --- Provider feedback ----------------------------------------------------------------------

# Provider statuses (Twilio's, and our own) mapped to ours; a later status never moves a
# message back (delivered stays delivered when a late "sent" callback arrives).
_RANK: dict[str, int] = {Status.SENT: 1, Status.DELIVERED: 2, Status.FAILED: 2}


def outbox_provider_status(
    *, provider_id: str, status: str, error_key: str = "", reason: str = ""
) -> int:
    """Record a delivery report for the message the provider knows as `provider_id`:
    `status` is "sent", "delivered" or "failed". Returns how many rows changed."""
    if status not in (Status.SENT, Status.DELIVERED, Status.FAILED) or not provider_id:
        return 0
    allowed_from = [s for s, rank in _RANK.items() if rank < _RANK[status]] + [Status.SENDING]
    fields: dict[str, Any] = {"status": status, "updated_at": timezone.now()}
    if status == Status.DELIVERED:
        fields["delivered_at"] = timezone.now()
    if status == Status.FAILED:
        fields["error_key"] = (error_key or "undelivered")[:60]
        fields["last_error"] = (reason or "The provider could not deliver the message.")[:500]
    return OutboxMessage.objects.filter(provider_id=provider_id, status__in=allowed_from).update(
        **fields
    )


# --- Consent ------------------------------------------------------------------------------


@transaction.atomic
def customer_opt_out(*, customer: Customer, channel: str, source: str) -> bool:
    """Withdraw the customer's consent for `channel` ("email" or "sms"), record a
    `customer.unsubscribed` event and skip their messages still waiting on that channel.
    Returns False when they had already opted out (nothing recorded twice)."""
    channels = ["sms"] if channel == "sms" else ["email", "mailchimp", "intercom"]
    OutboxMessage.objects.filter(
        customer=customer, channel__in=channels, status=Status.PENDING
    ).update(
        status=Status.SKIPPED,
        error_key="no_consent",
        last_error=SKIP_REASONS["no_consent"],
        updated_at=timezone.now(),
    )
    return _consent_set(customer, channel, source, given=False)


@transaction.atomic
def customer_opt_in(*, customer: Customer, channel: str, source: str) -> bool:
    """Give consent back (an SMS START reply, a MailChimp subscribe)."""
    return _consent_set(customer, channel, source, given=True)


def _consent_set(customer: Customer, channel: str, source: str, *, given: bool) -> bool:
    """Set the customer's consent for `channel` to `given` with its source and time, and record
    `customer.subscribed` / `customer.unsubscribed`, only when it changes: a repeated opt-out
    or opt-in (a second STOP, a replayed webhook) records nothing. Returns whether it changed."""
    consent, consent_source, consent_at = consent_columns(CONSENT_CHANNEL[channel])
    changed = Customer.objects.filter(pk=customer.pk, **{consent: not given}).update(
        **{consent: given, consent_source: source[:60], consent_at: timezone.now()}
    )
    if changed:
        event_record(
            customer=customer,
            type="customer.subscribed" if given else "customer.unsubscribed",
            payload={"channel": channel, "source": source},
        )
    return bool(changed)


# --- Channel accounts -----------------------------------------------------------------------


@transaction.atomic
def channel_account_save(
    *,
    channel: str,
    config: dict[str, Any],
    secrets: dict[str, str],
    rate_limit: int,
) -> ChannelAccount:
    """Create or update the account of `channel`. `secrets` holds only the values typed in
    this time; the others keep their saved value. Saving resets the last test result, since
    it no longer describes these settings."""

    account = ChannelAccount.objects.select_for_update().filter(channel=channel).first()
    if account is None:
        account = ChannelAccount(channel=channel)
    merged = {**decrypt_secrets(account.secrets_encrypted), **secrets} if account.pk else secrets
    account.config = config
    account.secrets_encrypted = encrypt_secrets(merged)
    account.secret_hints = {name: hint(value) for name, value in merged.items()}
    account.rate_limit = rate_limit
    account.last_test_at = None
    account.last_test_ok = None
    account.last_test_message = ""
    if channel == Channel.MAILCHIMP and not account.webhook_token:
        account.webhook_token = token_source.token_urlsafe(32)
    account.save()
    return account


def channel_account_test(*, account: ChannelAccount) -> tuple[bool, str]:
    """Call the provider with the saved credentials and remember the answer."""

    try:
        ok, message = True, adapter_for(account.channel, account).test_connection()
    except ChannelError as exc:
        ok, message = False, exc.reason
    except SecretsUnreadable as exc:
        ok, message = False, str(exc)
    except Exception as exc:  # an SDK's unexpected failure must not become a 500 page
        logger.exception("connection test of the %s account failed", account.channel)
        ok, message = False, f"The test could not run ({exc.__class__.__name__}: {exc})."
    ChannelAccount.objects.filter(pk=account.pk).update(
        last_test_at=timezone.now(), last_test_ok=ok, last_test_message=message[:500]
    )
    account.refresh_from_db()
    return ok, message


@transaction.atomic
def channel_account_disconnect(*, account: ChannelAccount) -> int:
    """Remove the account: the channel goes back to sandbox. Messages still waiting for it
    are moved to the sandbox too (shown, not sent), so nothing is lost or sent unexpectedly
    later; returns how many."""
    moved = OutboxMessage.objects.filter(account=account, status=Status.PENDING).update(
        account=None, sandbox=True, updated_at=timezone.now()
    )
    account.delete()
    return moved
