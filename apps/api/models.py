"""API bookkeeping in the partner schema: stored answers for `Idempotency-Key`."""

from __future__ import annotations

from django.db import models


class IdempotentRequest(models.Model):
    """The first answer to a write made with an `Idempotency-Key`; a retry with the same key
    (and the same body) gets this answer again instead of acting twice."""

    api_key_id = models.BigIntegerField()
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=255)
    body_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key_id", "key"], name="idempotency_key_once")
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.key})"
