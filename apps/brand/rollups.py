"""Brand-wide numbers, kept current by the partner-side writes themselves.

Partner schemas see the public schema on their search path, so a partner-side transaction
records its change in public in the same commit: an allocation bumps its counter directly (it
is rare), while redemptions and publications append a RollupDelta row (no row is shared
between concurrent redemptions, so none waits on another's commit). `flush()` folds the
deltas into the per-partner tables in one set-based statement; it runs in a job a couple of
seconds after a change and before the dashboard reads, so the brand console never loops over
partner schemas and is never more than seconds behind.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

import redis
from django.db import connection, transaction
from django.utils import timezone

from apps.core.db import tenant_connection
from apps.core.redis import redis_client
from apps.tenancy.models import Partner

logger = logging.getLogger(__name__)

FLUSH_DELAY = dt.timedelta(seconds=2)
_PENDING_KEY = "rollups:flush-pending"
# Serialises flushes so two of them never fold the same deltas (pg advisory lock id).
_FLUSH_LOCK = 0x0C0DE5


def current_partner_id() -> int:
    """The partner whose schema the connection is in (works in requests and in jobs, where
    the tenant is only a schema name)."""
    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Partner) and tenant.pk:
        return tenant.pk
    return Partner.objects.only("id").get(schema_name=tenant_connection.schema_name).pk


def record_allocated(*, program_id: int, quantity: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO public.brand_partnerprogramstats AS s (partner_id, program_id,
                allocated, published, redeemed, discount_total, last_activity_at)
            VALUES (%s, %s, %s, 0, 0, 0, now())
            ON CONFLICT (partner_id, program_id) DO UPDATE SET
                allocated = s.allocated + EXCLUDED.allocated,
                last_activity_at = GREATEST(s.last_activity_at, EXCLUDED.last_activity_at)
            """,
            [current_partner_id(), program_id, quantity],
        )


def _delta(program_id: int, when: dt.datetime, *, published=0, redeemed=0, discount=0) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO public.brand_rollupdelta (partner_id, program_id, day, published, "
            "redeemed, discount_total, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                current_partner_id(),
                program_id,
                timezone.localdate(when),
                published,
                redeemed,
                discount,
                when,
            ],
        )
    transaction.on_commit(schedule_flush)


def record_published(*, program_id: int, quantity: int = 1) -> None:
    _delta(program_id, timezone.now(), published=quantity)


def record_redemption(*, program_id: int, discount: int, when: dt.datetime, delta: int) -> None:
    """`delta` is +1 for a redemption, -1 for its rollback; pass the redemption's own time
    for both, so a rollback takes it off the day it was counted on."""
    _delta(program_id, when, redeemed=delta, discount=delta * discount)


_FLUSH_SQL = """
WITH d AS (
    DELETE FROM public.brand_rollupdelta RETURNING *
), stats AS (
    INSERT INTO public.brand_partnerprogramstats AS s (partner_id, program_id, allocated,
        published, redeemed, discount_total, last_activity_at)
    SELECT partner_id, program_id, 0, sum(published), sum(redeemed), sum(discount_total),
        max(created_at)
    FROM d GROUP BY partner_id, program_id ORDER BY partner_id, program_id
    ON CONFLICT (partner_id, program_id) DO UPDATE SET
        published = s.published + EXCLUDED.published,
        redeemed = s.redeemed + EXCLUDED.redeemed,
        discount_total = s.discount_total + EXCLUDED.discount_total,
        last_activity_at = GREATEST(s.last_activity_at, EXCLUDED.last_activity_at)
    RETURNING 1
), daily AS (
    INSERT INTO public.brand_dailyredemptions AS r (partner_id, day, redeemed, discount_total)
    SELECT partner_id, day, sum(redeemed), sum(discount_total)
    FROM d WHERE redeemed <> 0 GROUP BY partner_id, day ORDER BY partner_id, day
    ON CONFLICT (partner_id, day) DO UPDATE SET
        redeemed = r.redeemed + EXCLUDED.redeemed,
        discount_total = r.discount_total + EXCLUDED.discount_total
    RETURNING 1
)
SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM stats), (SELECT count(*) FROM daily)
"""


def flush() -> int:
    """Fold every pending delta into the rollup tables; returns how many were folded."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_FLUSH_LOCK])
        cursor.execute(_FLUSH_SQL)
        folded = cursor.fetchone()[0]
    return int(folded)


def flush_job() -> int:
    """The scheduled flush. Clearing the flag first means a change committed after this
    point schedules a new flush, so no delta waits for a later one."""
    _redis().delete(_PENDING_KEY)
    return flush()


# Process-local debounce for schedule_flush: the wall-clock time before which a flush job is
# known to be scheduled and not yet started. The flag's value is the earliest time its job can
# run (set time + FLUSH_DELAY; the job never starts before), and the job folds every delta
# committed before it starts, so a commit before that time needs no Redis round trip at all.
_covered_until = 0.0
# Slack for clock differences between web processes on different hosts.
_CLOCK_MARGIN = 0.5


def schedule_flush() -> None:
    """After a commit that wrote deltas: make sure one flush runs within FLUSH_DELAY. At most
    one Redis round trip; most calls find a flush already scheduled, and a process that knows
    when the scheduled one will start skips Redis until shortly before then."""
    global _covered_until
    try:
        now = time.time()
        if now < _covered_until:
            return
        run_at = now + FLUSH_DELAY.total_seconds()
        pipe = _redis().pipeline(transaction=False)
        pipe.set(_PENDING_KEY, repr(run_at), nx=True, ex=int(FLUSH_DELAY.total_seconds()) * 5)
        pipe.get(_PENDING_KEY)
        created, pending = pipe.execute()
        if not created:
            # Someone else's flush is pending; remember when it starts. A value that is not a
            # time (or a flag that just went away because its job started) teaches nothing.
            try:
                _covered_until = float(pending) - _CLOCK_MARGIN
            except (TypeError, ValueError):
                pass
            return
        import django_rq

        django_rq.get_queue("default").enqueue_in(FLUSH_DELAY, flush_job)
        _covered_until = run_at - _CLOCK_MARGIN
    except Exception:  # a dashboard read flushes too; a redemption must never fail on this
        logger.exception("could not schedule a rollup flush")


def _redis() -> redis.Redis:
    return redis_client()
