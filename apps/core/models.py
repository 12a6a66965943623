"""Domain-free models: the progress record of background jobs."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class JobRun(models.Model):
    """One run of a background job, as people see it: status, a 0-100 progress figure, a line
    of text and the result. Lives in the public schema (one table for all partners); the schema
    the job ran in is recorded so a partner only ever sees its own runs."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=64)
    label = models.CharField(max_length=200)
    # What the job works on, e.g. "partner:12" or "allocation:7", to find its runs.
    subject = models.CharField(max_length=100, blank=True, db_index=True)
    # Whose users may see this run: "public" for brand admins, else a partner schema.
    schema_name = models.CharField(max_length=63, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    message = models.CharField(max_length=300, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress__lte=100), name="jobrun_progress_max_100"
            )
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.get_status_display()})"

    @property
    def finished(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.FAILED}
