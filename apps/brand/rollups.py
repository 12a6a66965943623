"""Brand-wide numbers, kept current by the partner-side writes themselves.

Partner schemas see the public schema on their search path, so a redemption updates these
rows in its own transaction: the dashboard is never behind and never loops over schemas.
The upserts touch at most two rows, always in the same order, last in the transaction, so the
row locks they take are short and cannot deadlock.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.utils import timezone

from apps.tenancy.models import Partner


def current_partner_id() -> int:
    """The partner whose schema the connection is in (works in requests and in jobs, where
    the tenant is only a schema name)."""
    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Partner) and tenant.pk:
        return tenant.pk
    return Partner.objects.only("id").get(schema_name=connection.schema_name).pk


def _bump_stats(program_id: int, when: dt.datetime, **deltas: int) -> None:
    columns = ["allocated", "published", "redeemed", "discount_total"]
    values = [int(deltas.get(c, 0)) for c in columns]
    updates = ", ".join(f"{c} = s.{c} + EXCLUDED.{c}" for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO public.brand_partnerprogramstats AS s
                (partner_id, program_id, {", ".join(columns)}, last_activity_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (partner_id, program_id) DO UPDATE SET {updates},
                last_activity_at = GREATEST(s.last_activity_at, EXCLUDED.last_activity_at)
            """,  # noqa: S608 - column names are constants above
            [current_partner_id(), program_id, *values, when],
        )


def record_allocated(*, program_id: int, quantity: int) -> None:
    _bump_stats(program_id, timezone.now(), allocated=quantity)


def record_published(*, program_id: int, quantity: int = 1) -> None:
    _bump_stats(program_id, timezone.now(), published=quantity)


def record_redemption(*, program_id: int, discount: int, when: dt.datetime, delta: int) -> None:
    """`delta` is +1 for a redemption, -1 for its rollback (which counts on the day it was
    made, so the chart shows what stayed redeemed)."""
    _bump_stats(program_id, when, redeemed=delta, discount_total=delta * discount)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO public.brand_dailyredemptions AS d
                (partner_id, day, redeemed, discount_total)
            VALUES (%s, %s, %s, %s)
            ON CONFLICT (partner_id, day) DO UPDATE SET
                redeemed = d.redeemed + EXCLUDED.redeemed,
                discount_total = d.discount_total + EXCLUDED.discount_total
            """,
            [current_partner_id(), timezone.localdate(when), delta, delta * discount],
        )
