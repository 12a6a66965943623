"""Background evaluation of active segments (RQ entry points; ids only, safe to run twice).

- `segment_evaluate_job(segment_id)`: one segment, enqueued after it is created or edited.
- `segments_evaluate_all()`: every active segment of the current schema; the periodic run
  (`manage.py evaluate_segments`, from cron or any scheduler) and the debounced run call it.
- `segments_schedule_evaluation()`: call it after a change that may move customers in or out
  of segments (a customer saved, an order, a publication, a redemption, an event). After the
  transaction commits it makes sure ONE evaluation of the current partner's segments runs a
  few seconds later: a Redis SET NX EX flag absorbs the burst of calls, and
  `enqueue_in` (run by `rqworker --with-scheduler`) runs the job in the partner schema.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction

from apps.core.db import tenant_connection
from apps.core.redis import redis_client

from .models import Segment
from .segments import SegmentError, segment_evaluate

logger = logging.getLogger(__name__)

EVALUATE_DELAY = dt.timedelta(seconds=5)
# The flag outlives the delay, so a slow queue does not let a second run be scheduled.
_FLAG_TTL = 60


def _flag(schema_name: str) -> str:
    return f"segments:evaluate-pending:{schema_name}"


def segment_evaluate_job(segment_id: int) -> dict[str, Any] | None:
    segment = Segment.objects.filter(pk=segment_id, kind=Segment.Kind.ACTIVE).first()
    if segment is None:  # deleted or made static since: nothing to do
        return None
    result = segment_evaluate(segment=segment)
    return {"entered": len(result.entered), "left": len(result.left), "members": result.members}


def segments_evaluate_all() -> dict[str, int]:
    """Re-evaluate every active segment of the current schema, each in its own transaction
    so one broken filter does not hold back the others."""
    totals = {"segments": 0, "entered": 0, "left": 0, "failed": 0}
    ids = (
        Segment.objects.filter(kind=Segment.Kind.ACTIVE).order_by("pk").values_list("pk", flat=True)
    )
    for segment_id in list(ids):
        segment = Segment.objects.filter(pk=segment_id).first()
        if segment is None:
            continue
        try:
            result = segment_evaluate(segment=segment)
        except SegmentError:
            logger.exception(
                "segment %s in %s could not be evaluated", segment_id, tenant_connection.schema_name
            )
            totals["failed"] += 1
            continue
        totals["segments"] += 1
        totals["entered"] += len(result.entered)
        totals["left"] += len(result.left)
    return totals


def segments_evaluate_all_job() -> dict[str, int]:
    """The debounced run. Clearing the flag first means a change committed after this point
    schedules another run, so no change waits for the periodic one."""
    redis_client().delete(_flag(tenant_connection.schema_name))
    return segments_evaluate_all()


def segments_schedule_evaluation() -> None:
    """Debounced trigger: after the current transaction commits, make sure one evaluation of
    this partner's active segments runs within EVALUATE_DELAY. Never raises: a lost trigger
    only delays membership until the periodic run."""
    schema = tenant_connection.schema_name

    def push() -> None:
        try:
            if not redis_client().set(_flag(schema), 1, nx=True, ex=_FLAG_TTL):
                return
            from apps.core.jobs import enqueue_now

            enqueue_now(
                "apps.customers.segment_jobs.segments_evaluate_all_job",
                schema_name=schema,
                delay=EVALUATE_DELAY.total_seconds(),
                description="segments_evaluate_all",
            )
        except Exception:
            logger.exception("could not schedule a segment evaluation for %s", schema)

    transaction.on_commit(push)
