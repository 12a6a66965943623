"""Domain-free models: the progress record of background jobs, and what the models of every
app share (creation and change times, the link to the User who acted)."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models


def user_reference(*, blank: bool = True) -> models.ForeignKey[Any, Any]:
    """A row's link to the public User behind it (who created it, who made a request).

    One rule for every such link: the row outlives the user (SET_NULL), and the User gets no
    reverse accessor, because most of these rows live in partner schemas, where a query from
    the public User would read whichever schema the connection happens to be in."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=blank,
        on_delete=models.SET_NULL,
        related_name="+",
    )


class TimeStamped(models.Model):
    """When a row was created and last changed, kept the same way on every model that shows
    or syncs them. `auto_now` only runs on save(): a bulk `.update()` or hand-written UPDATE
    sets `updated_at` itself."""

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


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
    created_by = user_reference()
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
