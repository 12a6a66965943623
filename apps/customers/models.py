"""A partner's audience (partner schema): customers, their orders and events, the codes
published to them, and segments. Only the partner that owns the schema ever sees these rows.
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower

from apps.campaigns.models import Campaign, Voucher
from apps.core.models import TimeStamped, user_reference


class Customer(TimeStamped):
    """A partner's customer. `source_id` is the partner's own id for the person (unique when
    given); email is unique case-insensitively when given. Consent is per channel, with its
    source and time, because sending rules differ per channel."""

    source_id = models.CharField(max_length=120, null=True, blank=True, unique=True)
    name = models.CharField(max_length=200, blank=True)
    # NULL, not "", when unknown: the case-insensitive unique index must not see duplicates.
    email = models.EmailField(max_length=254, null=True, blank=True)  # noqa: DJ001
    phone = models.CharField(max_length=20, blank=True, help_text="E.164, e.g. +14155550123")
    address_line_1 = models.CharField(max_length=200, blank=True)
    address_line_2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    state = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=100, blank=True)
    birthdate = models.DateField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    email_consent = models.BooleanField(default=False)
    email_consent_source = models.CharField(max_length=60, blank=True)
    email_consent_at = models.DateTimeField(null=True, blank=True)
    sms_consent = models.BooleanField(default=False)
    sms_consent_source = models.CharField(max_length=60, blank=True)
    sms_consent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="customer_email_unique_ci"),
        ]
        indexes = [models.Index(fields=["created_at"], name="customer_created_idx")]

    def __str__(self) -> str:
        return self.name or self.email or self.source_id or f"Customer {self.pk}"


class Order(TimeStamped):
    """An order of a customer; `source_id` is the partner's order id (unique when given)."""

    class Status(models.TextChoices):
        CREATED = "CREATED", "Created"
        PAID = "PAID", "Paid"
        CANCELED = "CANCELED", "Canceled"
        FULFILLED = "FULFILLED", "Fulfilled"

    public_id = models.CharField(max_length=30, unique=True)
    source_id = models.CharField(max_length=120, null=True, blank=True, unique=True)
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CREATED)
    amount = models.BigIntegerField(default=0)  # minor units
    items = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "created_at"], name="order_customer_idx")]

    def __str__(self) -> str:
        return self.source_id or self.public_id


class Event(models.Model):
    """The event log: what happened to a customer (order.created, voucher.published,
    segment.entered, a custom event…). Later features consume it through EventConsumption,
    which makes consuming idempotent."""

    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    type = models.CharField(max_length=100)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "type", "created_at"], name="event_cust_idx")]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk}"


class EventConsumption(models.Model):
    """That `consumer` has handled `event`: the unique pair makes a second handling a no-op."""

    consumer = models.CharField(max_length=100)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    handled_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["consumer", "event"], name="event_consumed_once")
        ]

    def __str__(self) -> str:
        return f"{self.consumer}: {self.event_id}"


class Publication(models.Model):
    """A code given to a customer. A voucher is published at most once (unique voucher);
    `source_id` makes an API retry return the same code."""

    voucher = models.OneToOneField(Voucher, on_delete=models.PROTECT, related_name="publication")
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="publications")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="publications")
    public_id = models.CharField(max_length=30, unique=True)
    source_id = models.CharField(max_length=120, null=True, blank=True, unique=True)
    channel = models.CharField(max_length=30, blank=True)  # "API", "portal", "distribution"
    distribution_id = models.BigIntegerField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One code per customer and distribution (ARCHITECTURE section 6).
            models.UniqueConstraint(
                fields=["distribution_id", "customer"],
                condition=models.Q(distribution_id__isnull=False),
                name="publication_one_per_distribution",
            )
        ]
        indexes = [models.Index(fields=["campaign", "customer"], name="publication_campaign_idx")]

    def __str__(self) -> str:
        return f"{self.voucher} → {self.customer}"


class Segment(TimeStamped):
    """A group of customers: static (a fixed list) or active (a filter, re-evaluated; its
    current members are kept in SegmentMembership)."""

    class Kind(models.TextChoices):
        STATIC = "static", "Static list"
        ACTIVE = "active", "Active (filter)"

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # {"match": "all"|"any", "conditions": [{"field": ..., "op": ..., "value": ...}, ...]}
    filter = models.JSONField(default=dict, blank=True)
    members_count = models.PositiveIntegerField(default=0)
    evaluated_at = models.DateTimeField(null=True, blank=True)
    # Why the last evaluation failed (its members stay as they were); cleared by a success.
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SegmentMembership(models.Model):
    """A customer in a segment: chosen (static) or matching at the last evaluation (active)."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["segment", "customer"], name="segment_member_once")
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} in {self.segment_id}"


class CustomerImport(models.Model):
    """One CSV upload: the file, how its columns map to customer fields, and the outcome.
    The file is kept in the database (a partner's CSV, at most tens of MB) so any worker can
    read it; the per-row error report is kept as CSV text for download."""

    class Status(models.TextChoices):
        MAPPING = "mapping", "Waiting for column mapping"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Importing"
        SUCCEEDED = "succeeded", "Done"
        FAILED = "failed", "Failed"

    filename = models.CharField(max_length=255)
    content = models.TextField()
    # {"csv column": "customer field"}; unmapped columns are ignored.
    mapping = models.JSONField(default=dict, blank=True)
    match_on = models.CharField(max_length=10, default="source_id")  # or "email"
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.MAPPING)
    rows_total = models.PositiveIntegerField(default=0)
    rows_created = models.PositiveIntegerField(default=0)
    rows_updated = models.PositiveIntegerField(default=0)
    rows_failed = models.PositiveIntegerField(default=0)
    error_report = models.TextField(blank=True)  # CSV: row, column, problem
    message = models.CharField(max_length=300, blank=True)
    job_run = models.ForeignKey(
        "core.JobRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.filename
