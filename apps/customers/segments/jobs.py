"""Background evaluation of active segments: RQ entry points (ids only, safe to run twice).

- `segment_evaluate_job(segment_id)`: one segment, enqueued after it is created or edited.
- `segments_evaluate_all_job()`: the debounced run that
  `apps.customers.segments.triggers.segments_schedule_evaluation` queues after a change.
"""

from __future__ import annotations

from typing import Any

from apps.core.db import tenant_connection
from apps.core.redis import redis_client
from apps.customers.models import Segment
from apps.customers.segments.services import segment_evaluate_isolated, segments_evaluate_all
from apps.customers.segments.triggers import pending_flag


def segment_evaluate_job(segment_id: int) -> dict[str, Any] | None:
    segment = Segment.objects.filter(pk=segment_id, kind=Segment.Kind.ACTIVE).first()
    if segment is None:  # deleted or made static since: nothing to do
        return None
    result = segment_evaluate_isolated(segment=segment)
    if result is None:  # the reason is on the segment (last_error) and in the log
        return {"failed": segment.last_error}
    return {"entered": len(result.entered), "left": len(result.left), "members": result.members}


def segments_evaluate_all_job() -> dict[str, int]:
    """The debounced run. Clearing the flag first means a change committed after this point
    schedules another run, so no change waits for the periodic one."""
    redis_client().delete(pending_flag(tenant_connection.schema_name))
    return segments_evaluate_all()
