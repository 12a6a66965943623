"""Channel accounts and the outbox (partner schema).

The messaging app knows how to deliver "this message to this customer through this channel
account" and nothing about campaigns or distributions (ARCHITECTURE section 8). A channel with
no connected account runs in sandbox: its messages are stored and shown, never sent.
"""

from __future__ import annotations

from django.db import models

from apps.campaigns.models import Voucher
from apps.core.models import TimeStamped
from apps.customers.models import Customer


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    MAILCHIMP = "mailchimp", "MailChimp"
    INTERCOM = "intercom", "Intercom"


class ChannelAccount(TimeStamped):
    """A partner's credentials for one channel (at most one per channel).

    `config` holds what may be shown (SMTP host, Twilio sender, MailChimp list id…);
    `secrets_encrypted` holds a Fernet token of the secret values (passwords, tokens, API keys)
    and `secret_hints` their last characters, so the page can say "token ending in …a1b2"
    without ever showing one again."""

    channel = models.CharField(max_length=20, choices=Channel.choices, unique=True)
    config = models.JSONField(default=dict, blank=True)
    secrets_encrypted = models.TextField(blank=True)
    secret_hints = models.JSONField(default=dict, blank=True)
    # Messages per second this account may send, shared by every worker.
    rate_limit = models.PositiveIntegerField(default=10)
    # The MailChimp webhook URL carries this; Intercom webhooks are signed with a secret instead.
    webhook_token = models.CharField(max_length=64, blank=True)
    last_test_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True)
    last_test_message = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["channel"]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} account"


class MessageTemplate(models.Model):
    """Content written once for many messages (a distribution's message for one channel, or
    one of its reminders). Outbox rows that point here are rendered by the send job, for their
    customer and code, when they are claimed; bulk senders then queue rows with one
    INSERT … SELECT instead of rendering every message up front."""

    channel = models.CharField(max_length=20, choices=Channel.choices)
    # apps.messaging.compose.ChannelContent as a dict: subject, html, text, merge_field…
    content = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.channel} template {self.pk}"


class OutboxMessage(TimeStamped):
    """One message to one recipient through one channel.

    A send job claims a row with a conditional update (PENDING → SENDING) before calling the
    provider, so a job run twice sends once. `dedupe_key` lets a caller (a distribution) make
    "one message per (distribution, customer, channel, reminder)" a database guarantee."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    channel = models.CharField(max_length=20, choices=Channel.choices)
    # NULL: sandbox (no account connected when the message was queued).
    account = models.ForeignKey(
        ChannelAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    sandbox = models.BooleanField(default=False)
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    voucher = models.ForeignKey(
        Voucher, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    recipient = models.CharField(max_length=254, blank=True)  # email address or E.164 number
    subject = models.CharField(max_length=300, blank=True)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)
    # Set: subject/body/payload are rendered from it when the send job claims the row.
    template = models.ForeignKey(
        MessageTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Channel-specific content: MailChimp merge field and value, Intercom attribute, etc.
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    provider_id = models.CharField(max_length=120, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    error_key = models.CharField(max_length=60, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    # What the sandbox recorded, or what the provider answered (ids, statuses).
    result = models.JSONField(default=dict, blank=True)
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    distribution_id = models.BigIntegerField(null=True, blank=True)
    reminder_index = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The send job's claim: due pending messages of one channel, oldest first.
            models.Index(
                fields=["channel", "next_attempt_at", "id"],
                name="outbox_pending_idx",
                condition=models.Q(status="pending"),
            ),
            models.Index(fields=["provider_id"], name="outbox_provider_idx"),
            models.Index(fields=["distribution_id", "status"], name="outbox_distribution_idx"),
            models.Index(fields=["customer", "created_at"], name="outbox_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} to {self.recipient or '?'} ({self.status})"

    @property
    def summary(self) -> str:
        """A one-line description of the content, for lists."""
        if self.subject:
            return self.subject
        if self.body_text:
            return self.body_text
        if self.payload.get("value"):
            target = self.payload.get("merge_field") or self.payload.get("attribute")
            return f"{target} = {self.payload['value']}"
        return "—"
