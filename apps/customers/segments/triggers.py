"""When segments are re-evaluated after a change: the debounced trigger.

Call `segments_schedule_evaluation()` after a change that may move customers in or out of
segments (a customer saved, an order, a publication, a redemption, an event). After the
transaction commits it makes sure ONE evaluation of the current partner's segments runs a few
seconds later: a Redis SET NX EX flag absorbs the burst of calls, and `enqueue_now` with a delay
(run by `rqworker --with-scheduler`) runs the job in the partner schema. The periodic run
(`manage.py evaluate_segments`) catches anything a lost trigger left behind.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction

from apps.core.db import tenant_connection
from apps.core.jobs import enqueue_now
from apps.core.redis import redis_client

logger = logging.getLogger(__name__)

EVALUATE_DELAY = dt.timedelta(seconds=5)
# The flag outlives the delay, so a slow queue does not let a second run be scheduled.
_FLAG_TTL = 60


def pending_flag(schema_name: str) -> str:
    return f"segments:evaluate-pending:{schema_name}"


def segments_schedule_evaluation() -> None:
    """Debounced trigger: after the current transaction commits, make sure one evaluation of
    this partner's active segments runs within EVALUATE_DELAY. Never raises: a lost trigger
    only delays membership until the periodic run."""
    schema = tenant_connection.schema_name

    def push() -> None:
        try:
            if not redis_client().set(pending_flag(schema), 1, nx=True, ex=_FLAG_TTL):
                return
            enqueue_now(
                "apps.customers.segments.jobs.segments_evaluate_all_job",
                schema_name=schema,
                delay=EVALUATE_DELAY.total_seconds(),
                description="segments_evaluate_all",
            )
        except Exception:
            logger.exception("could not schedule a segment evaluation for %s", schema)

    transaction.on_commit(push)
