"""Background jobs of the distribution pipeline: RQ entry points only (ids only, safe to run
twice). They are queued by apps.distributions.pipeline.queue.

- `fanout_job(distribution_id)`: serve a distribution's audience (pipeline.fanout), enqueued by
  launch, by activation with current members, and by resume.
- `consume_job(distribution_id)` / `consume_all_job()`: automatic distributions read the event
  log (pipeline.automatic).
- `distributions_tick()`: every TICK_INTERVAL, for every partner: send due reminders, handle
  events a lost trigger left pending, and resume distributions whose pool was topped up.
"""

from __future__ import annotations

import logging
from typing import Any

from django_tenants.utils import schema_context

from apps.core.db import tenant_connection
from apps.core.redis import redis_client
from apps.distributions.pipeline.automatic import consume_all, distribution_consume
from apps.distributions.pipeline.fanout import distributions_resume_pool_paused, fanout_run
from apps.distributions.pipeline.queue import TICK_FLAG, consume_flag, tick_schedule
from apps.distributions.pipeline.reminders import reminders_send
from apps.tenancy.models import Partner

logger = logging.getLogger(__name__)


def fanout_job(distribution_id: int) -> dict[str, Any]:
    return fanout_run(distribution_id).as_dict()


def resume_pool_paused_job() -> list[int]:
    """Resume the distributions paused for an empty pool whose campaign has codes again."""
    return distributions_resume_pool_paused()


def consume_job(distribution_id: int) -> dict[str, Any]:
    return distribution_consume(distribution_id).as_dict()


def consume_all_job() -> dict[str, int]:
    """The debounced run. Clearing the flag first means events committed after this point
    queue another run instead of waiting for the periodic sweep."""
    redis_client().delete(consume_flag(tenant_connection.schema_name))
    return consume_all()


def reminders_job() -> dict[str, Any]:
    return reminders_send()


def partner_schemas() -> list[str]:
    return list(
        Partner.objects.ready().order_by("schema_name").values_list("schema_name", flat=True)
    )


def distributions_tick() -> dict[str, Any]:
    """Schedules the next tick first, so a failure here does not stop the clock."""
    redis_client().delete(TICK_FLAG)
    tick_schedule()
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
