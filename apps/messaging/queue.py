"""Starting send jobs: after a commit that queued outbox rows, make sure send jobs for the
channel run (at most one set waiting per channel and partner: a Redis SET NX EX flag absorbs
bursts). The job is named by its dotted path, so this module imports none of the send engine.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from apps.core.db import tenant_connection
from apps.core.jobs import enqueue_now
from apps.core.redis import redis_client

logger = logging.getLogger(__name__)

_KICK_TTL = 120


def kick_flag(schema: str, channel: str) -> str:
    return f"outbox:kick:{schema}:{channel}"


def schedule_send(schema: str, channel: str, *, delay: float = 0) -> None:
    """Start MESSAGING_SEND_CONCURRENCY send jobs for `channel` in `schema`, unless a set is
    already waiting to start. Never raises: the next kick or sweep picks the rows up."""
    try:
        flag = kick_flag(schema, channel)
        if delay <= 0 and not redis_client().set(flag, 1, nx=True, ex=_KICK_TTL):
            return
        for _ in range(max(1, settings.MESSAGING_SEND_CONCURRENCY)):
            enqueue_now(
                "apps.messaging.jobs.outbox_send_job",
                channel,
                schema_name=schema,
                delay=delay,
                description=f"send {channel}",
            )
    except Exception:
        logger.exception("could not start send jobs for %s in %s", channel, schema)


def outbox_kick(channel: str, *, delay: float = 0) -> None:
    """Make sure send jobs for `channel` run after the current transaction commits (at most
    one set of jobs at a time per channel and partner)."""
    schema = tenant_connection.schema_name
    transaction.on_commit(lambda: schedule_send(schema, channel, delay=delay))
