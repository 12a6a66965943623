"""Distributions (partner schema): what a partner builds in the seven-step wizard, who it
reaches, and what happened.

- `Distribution` is the wizard's draft row, saved at every step, and after launch the live
  object that is paused, resumed, duplicated or archived but never edited.
- `Recipient` is one customer of one distribution (unique pair): the fan-out's resumable
  work list and the guarantee that a customer gets at most one code per distribution.
- `DistributionCustomer` holds the customers picked by hand for a manual distribution.
- `Activity` is the distribution's log, shown on its page.
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower

from apps.campaigns.models import Campaign, Voucher
from apps.core.models import TimeStamped
from apps.customers.models import Customer, Publication, Segment

CHANNELS = ("email", "sms", "mailchimp", "intercom")
# Customer events an automatic distribution can fire on (besides entering a segment).
TRIGGER_EVENTS = {
    "order.created": "Order created",
    "order.updated": "Order updated",
    "order.paid": "Order paid",
    "order.canceled": "Order canceled",
    "voucher.published": "Code published",
    "mailchimp.subscribed": "Subscribed to the MailChimp audience",
}
MAX_REMINDERS = 3


class Distribution(TimeStamped):
    class Kind(models.TextChoices):
        MANUAL = "manual", "Manual"
        AUTOMATIC = "automatic", "Automatic"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        LIVE = "live", "Live"
        PAUSED = "paused", "Paused"
        COMPLETED = "completed", "Completed"
        ARCHIVED = "archived", "Archived"

    class Audience(models.TextChoices):
        SEGMENT = "segment", "A segment"
        CUSTOMERS = "customers", "Chosen customers"
        EVENT = "event", "A customer event"

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.MANUAL)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    # Why a live distribution is paused: "user" or "pool_empty" (resumes after a top-up).
    pause_reason = models.CharField(max_length=20, blank=True)
    # The highest wizard step completed (0-7); a later step cannot be posted before it.
    step = models.PositiveSmallIntegerField(default=0)
    channels = models.JSONField(default=list, blank=True)  # ordered subset of CHANNELS
    # {channel: {"subject", "html", "text", "merge_field", "attribute"}}: templates, validated
    # at compose time (apps.messaging.templating).
    content = models.JSONField(default=dict, blank=True)
    # [{"days": 3, "content": {channel: {...}}}], at most MAX_REMINDERS.
    reminders = models.JSONField(default=list, blank=True)
    audience = models.CharField(max_length=10, choices=Audience.choices, blank=True)
    # A segment used by a live or paused distribution cannot be deleted (segment_in_use_by);
    # a draft or finished one just loses it.
    segment = models.ForeignKey(
        Segment, null=True, blank=True, on_delete=models.SET_NULL, related_name="distributions"
    )
    trigger_event = models.CharField(max_length=40, blank=True)
    include_current_members = models.BooleanField(default=False)
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.PROTECT, related_name="distributions"
    )
    audience_size = models.PositiveIntegerField(null=True, blank=True)  # at launch
    created_by_id = models.BigIntegerField(null=True, blank=True)  # public accounts.User
    launched_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="distribution_name_unique_ci"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT


class DistributionCustomer(models.Model):
    """A customer picked by hand for a manual distribution."""

    distribution = models.ForeignKey(Distribution, on_delete=models.CASCADE, related_name="chosen")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["distribution", "customer"], name="distribution_customer_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.distribution_id}:{self.customer_id}"


class Recipient(models.Model):
    """One customer of one distribution. Created before anything is published or sent, so a
    fan-out killed halfway resumes from the rows still waiting."""

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting for a code"
        PUBLISHED = "published", "Code published"
        MESSAGED = "messaged", "Messages queued"

    distribution = models.ForeignKey(
        Distribution, on_delete=models.CASCADE, related_name="recipients"
    )
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    publication = models.ForeignKey(
        Publication, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    voucher = models.ForeignKey(
        Voucher, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What made an automatic distribution take this customer (an event id), for the log.
    event_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    messaged_at = models.DateTimeField(null=True, blank=True)
    reminders_sent = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["distribution", "customer"], name="recipient_once_per_distribution"
            )
        ]
        indexes = [
            models.Index(fields=["distribution", "status", "id"], name="recipient_work_idx"),
            models.Index(fields=["distribution", "messaged_at"], name="recipient_reminder_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.distribution_id}:{self.customer_id} ({self.status})"


class Activity(models.Model):
    """A line of a distribution's log: launched, paused (pool empty), resumed, completed,
    a batch published, a reminder round sent…"""

    distribution = models.ForeignKey(
        Distribution, on_delete=models.CASCADE, related_name="activity"
    )
    kind = models.CharField(max_length=40)
    message = models.CharField(max_length=300)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"
