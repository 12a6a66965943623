"""Starting the pipeline's jobs: what services and the pipeline call to have work done after the
current transaction commits. The jobs are named by their dotted path in
apps.distributions.jobs (the entry points), so this module imports none of the code they run.

`schedule_consume` is this app's reaction to recorded customer events (apps.core.reactions,
subscribed in DistributionsConfig.ready): when one of them can trigger a live automatic
distribution of the partner, one consume job runs after the commit (a Redis SET NX EX flag
absorbs bursts). `tick_schedule` starts the periodic tick.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from django.db import transaction
from django_tenants.utils import get_public_schema_name, schema_context

from apps.core.db import tenant_connection
from apps.core.jobs import enqueue, enqueue_now
from apps.core.redis import redis_client
from apps.distributions.models import TRIGGER_EVENTS, Distribution

logger = logging.getLogger(__name__)

SEGMENT_ENTERED = "segment.entered"
TICK_INTERVAL = dt.timedelta(minutes=5)
# The consume flag outlives a normal job start, so a burst of events queues one job.
_CONSUME_FLAG_TTL = 60
TICK_FLAG = "distributions:tick-scheduled"
_JOBS = "apps.distributions.jobs"


def enqueue_fanout(distribution_id: int) -> None:
    """Queue the fan-out after the current transaction commits."""
    enqueue(f"{_JOBS}.fanout_job", distribution_id)


def enqueue_consume(distribution_id: int) -> None:
    enqueue(f"{_JOBS}.consume_job", distribution_id)


def consume_flag(schema: str) -> str:
    return f"distributions:consume-pending:{schema}"


def schedule_consume(types: Iterable[str]) -> None:
    """Called whenever customer events are recorded. Never raises: a lost trigger only delays
    the customers until the periodic sweep."""
    schema = tenant_connection.schema_name
    if schema == get_public_schema_name() or not (set(types) & {SEGMENT_ENTERED, *TRIGGER_EVENTS}):
        return

    def push() -> None:
        # After the commit, so the recording transaction pays no extra query.
        try:
            with schema_context(schema):
                live = Distribution.objects.filter(
                    kind=Distribution.Kind.AUTOMATIC, status=Distribution.Status.LIVE
                ).exists()
            if not live:
                return
            if not redis_client().set(consume_flag(schema), 1, nx=True, ex=_CONSUME_FLAG_TTL):
                return
            enqueue_now(
                f"{_JOBS}.consume_all_job", schema_name=schema, description="distributions consume"
            )
        except Exception:
            logger.exception("could not schedule automatic distributions for %s", schema)

    transaction.on_commit(push)


def tick_schedule(delay: dt.timedelta = TICK_INTERVAL) -> bool:
    """Schedule the next tick in `delay` unless one is scheduled already (needs a worker run
    with --with-scheduler). Returns True when it scheduled one."""
    if not redis_client().set(TICK_FLAG, 1, nx=True, ex=int(delay.total_seconds()) + 300):
        return False
    enqueue_now(
        f"{_JOBS}.distributions_tick",
        schema_name=get_public_schema_name(),
        queue="low",
        delay=delay.total_seconds(),
        description="distributions tick (reminders)",
    )
    return True
