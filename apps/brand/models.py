"""Brand console data (public schema): programs, allocations of code pools to partners, and
the rollup tables that the dashboard reads instead of visiting partner schemas."""

from __future__ import annotations

from django.db import models

from apps.campaigns.models import CampaignTerms
from apps.core.models import TimeStamped, user_reference


class Program(CampaignTerms, TimeStamped):
    """A brand-level campaign definition. Allocating it to a partner copies its terms into
    that partner's Campaign."""

    created_by = user_reference(blank=False)

    class Meta:
        ordering = ["-created_at"]


class Allocation(models.Model):
    """N codes of a program given to a partner: the first one creates the partner's campaign,
    later ones top it up. Generation runs as a job in the partner's schema."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Generating"
        SUCCEEDED = "succeeded", "Done"
        FAILED = "failed", "Failed"

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="allocations")
    partner = models.ForeignKey(
        "tenancy.Partner", on_delete=models.CASCADE, related_name="allocations"
    )
    quantity = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    codes_created = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    job_run = models.ForeignKey(
        "core.JobRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = user_reference(blank=False)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="allocation_positive")
        ]

    def __str__(self) -> str:
        return f"{self.quantity:,} × {self.program} → {self.partner}"


class PartnerProgramStats(models.Model):
    """Rollup per (partner, program): kept current in the transaction that changes the
    partner-side fact (allocation done, publication, redemption, rollback)."""

    partner = models.ForeignKey("tenancy.Partner", on_delete=models.CASCADE, related_name="+")
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="stats")
    # Plain integers: an upsert checks constraints on the proposed row, whose deltas may be -1.
    allocated = models.IntegerField(default=0)
    published = models.IntegerField(default=0)
    redeemed = models.IntegerField(default=0)
    discount_total = models.BigIntegerField(default=0)
    last_activity_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "program"], name="stats_partner_program")
        ]

    def __str__(self) -> str:
        return f"{self.partner_id}/{self.program_id}"


class DailyRedemptions(models.Model):
    """Redemptions per partner and day, for the dashboard chart."""

    partner = models.ForeignKey("tenancy.Partner", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    redeemed = models.IntegerField(default=0)
    discount_total = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["day"]
        constraints = [models.UniqueConstraint(fields=["partner", "day"], name="daily_partner_day")]

    def __str__(self) -> str:
        return f"{self.partner_id} {self.day}: {self.redeemed}"


class RollupDelta(models.Model):
    """A change to the rollups, written by a partner-side transaction (a redemption, its
    rollback, a publication). Inserting a row here never waits on another transaction, where
    updating the shared per-partner counters directly would make every redemption of a
    partner queue behind the previous one's commit. `apps.rollups.flush` folds these
    rows into PartnerProgramStats and DailyRedemptions within seconds, and before every read
    of the dashboard."""

    partner = models.ForeignKey("tenancy.Partner", on_delete=models.CASCADE, related_name="+")
    program_id = models.BigIntegerField()
    day = models.DateField()
    published = models.IntegerField(default=0)
    redeemed = models.IntegerField(default=0)
    discount_total = models.BigIntegerField(default=0)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.partner_id}/{self.program_id} {self.day}: {self.redeemed:+d}"
