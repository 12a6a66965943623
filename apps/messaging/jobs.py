"""Messaging's RQ entry points (they run in the partner schema; safe to run twice)."""

from __future__ import annotations

from apps.core.db import tenant_connection
from apps.core.redis import redis_client
from apps.messaging.queue import kick_flag
from apps.messaging.sending import outbox_send


def outbox_send_job(channel: str) -> dict[str, int]:
    """Clearing the flag first means rows queued from now on start another job instead of
    waiting."""
    redis_client().delete(kick_flag(tenant_connection.schema_name, channel))
    return outbox_send(channel)
