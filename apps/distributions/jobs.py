"""Background jobs of the distribution pipeline (RQ entry points; ids only, safe to run twice).

- `fanout_job(distribution_id)`: serve a distribution's audience (apps.distributions.fanout),
  enqueued by launch, by activation with current members, and by resume.
- `consume_job(distribution_id)` / `consume_all_job()`: automatic distributions read the event
  log (apps.distributions.automatic). `schedule_consume(types)` is the debounced trigger,
  registered in settings.EVENT_LISTENERS: after the transaction that recorded the events
  commits, one consume job of the partner's live automatic distributions is queued.
- `reminders_job()`: one reminder round in the current schema (apps.distributions.reminders).
- `reminders_schedule()`: start the periodic tick (every TICK_INTERVAL, across partners) that
  sends reminders and sweeps up anything a lost trigger left behind; the tick re-schedules
  itself. Call it when a worker with the scheduler starts; calling it again is harmless.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django_tenants.utils import get_public_schema_name, schema_context

from apps.core.db import tenant_connection
from apps.core.jobs import enqueue
from apps.core.redis import redis_client

logger = logging.getLogger(__name__)

TICK_INTERVAL = dt.timedelta(minutes=5)
# The consume flag outlives a normal job start, so a burst of events queues one job.
_CONSUME_FLAG_TTL = 60
_TICK_FLAG = "distributions:tick-scheduled"


# --- Fan-out ---------------------------------------------------------------------------------


def enqueue_fanout(distribution_id: int) -> None:
    """Queue the fan-out after the current transaction commits."""
    enqueue("apps.distributions.jobs.fanout_job", distribution_id)


def fanout_job(distribution_id: int) -> dict[str, Any]:
    from .fanout import fanout_run

    return fanout_run(distribution_id).as_dict()


def resume_pool_paused_job() -> list[int]:
    """Resume the distributions paused for an empty pool whose campaign has codes again."""
    from .fanout import distributions_resume_pool_paused

    return distributions_resume_pool_paused()


# --- Automatic -------------------------------------------------------------------------------


def enqueue_consume(distribution_id: int) -> None:
    enqueue("apps.distributions.jobs.consume_job", distribution_id)


def consume_job(distribution_id: int) -> dict[str, Any]:
    from .automatic import distribution_consume

    return distribution_consume(distribution_id).as_dict()


def _consume_flag(schema: str) -> str:
    return f"distributions:consume-pending:{schema}"


def consume_all_job() -> dict[str, int]:
    """The debounced run. Clearing the flag first means events committed after this point
    queue another run instead of waiting for the periodic sweep."""
    from .automatic import consume_all

    redis_client().delete(_consume_flag(tenant_connection.schema_name))
    return consume_all()


def _trigger_types() -> set[str]:
    from .automatic import SEGMENT_ENTERED
    from .models import TRIGGER_EVENTS

    return {SEGMENT_ENTERED, *TRIGGER_EVENTS}


def schedule_consume(types: Iterable[str]) -> None:
    """EVENT_LISTENERS hook, called whenever customer events are recorded. When one of them
    can trigger a live automatic distribution of this partner, make sure one consume job
    runs after the transaction commits (a Redis SET NX EX flag absorbs bursts). Never
    raises: a lost trigger only delays the customers until the periodic sweep."""
    schema = tenant_connection.schema_name
    if schema == get_public_schema_name() or not (set(types) & _trigger_types()):
        return

    def push() -> None:
        # After the commit, so the recording transaction pays no extra query.
        try:
            from .models import Distribution

            with schema_context(schema):
                live = Distribution.objects.filter(
                    kind=Distribution.Kind.AUTOMATIC, status=Distribution.Status.LIVE
                ).exists()
            if not live:
                return
            if not redis_client().set(_consume_flag(schema), 1, nx=True, ex=_CONSUME_FLAG_TTL):
                return
            from apps.core.jobs import enqueue_now

            enqueue_now(
                "apps.distributions.jobs.consume_all_job",
                schema_name=schema,
                description="distributions consume",
            )
        except Exception:
            logger.exception("could not schedule automatic distributions for %s", schema)

    transaction.on_commit(push)


# --- Reminders and the periodic tick ----------------------------------------------------------


def reminders_job() -> dict[str, Any]:
    from .reminders import reminders_send

    return reminders_send()


def partner_schemas() -> list[str]:
    from apps.tenancy.models import Partner

    return list(
        Partner.objects.ready().order_by("schema_name").values_list("schema_name", flat=True)
    )


def distributions_tick() -> dict[str, Any]:
    """Every TICK_INTERVAL, for every partner: send due reminders, handle events a lost
    trigger left pending, and resume distributions whose pool was topped up. Schedules the
    next tick first, so a failure here does not stop the clock."""
    from .automatic import consume_all
    from .fanout import distributions_resume_pool_paused
    from .reminders import reminders_send

    redis_client().delete(_TICK_FLAG)
    reminders_schedule()
    totals: dict[str, Any] = {"partners": 0, "reminders": 0, "failed": []}
    for schema in partner_schemas():
        try:
            with schema_context(schema):
                totals["reminders"] += reminders_send()["recipients"]
                consume_all()
                distributions_resume_pool_paused()
            totals["partners"] += 1
        except Exception:
            logger.exception("distribution tick failed in %s", schema)
            totals["failed"].append(schema)
    return totals


def reminders_schedule(delay: dt.timedelta = TICK_INTERVAL) -> bool:
    """Schedule the next tick in `delay` unless one is scheduled already (needs a worker run
    with --with-scheduler). Returns True when it scheduled one."""
    import django_rq

    if not redis_client().set(_TICK_FLAG, 1, nx=True, ex=int(delay.total_seconds()) + 300):
        return False
    django_rq.get_queue("low").enqueue_in(
        delay, distributions_tick, description="distributions tick (reminders)"
    )
    return True
