"""Fulfilling an allocation: generating its codes in the partner's schema, resumably (the job,
apps.brand.jobs.allocation_generate, runs it)."""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apps import rollups
from apps.brand.models import Allocation
from apps.campaigns.services import campaign_ensure, campaign_grant_distributors, vouchers_generate
from apps.core.db import tenant_connection
from apps.core.jobs import Progress
from apps.distributions.pipeline.fanout import distributions_resume_pool_paused

# First key of the advisory lock that keeps one allocation to one worker at a time.
_LOCK_NAMESPACE = 7301


def allocation_generate(allocation_id: int, *, job_run_id: str | None = None) -> None:
    """Generate an allocation's codes in the partner's schema (the job runs in it).

    A second run of a finished allocation does nothing; a run after a crash or a failure
    resumes where the codes stopped, because the count of codes made is committed together
    with the codes themselves. A session advisory lock keeps two workers off one allocation;
    PostgreSQL drops it if the worker dies."""
    progress = Progress(job_run_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, allocation_id])
        if not cursor.fetchone()[0]:
            return  # another worker is on it; its run reports the progress
    try:
        _generate(allocation_id, progress)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, allocation_id])


def _generate(allocation_id: int, progress: Progress) -> None:
    allocation = Allocation.objects.select_related("program", "partner").get(pk=allocation_id)
    if allocation.status == Allocation.Status.SUCCEEDED:
        return
    if allocation.partner.schema_name != tenant_connection.schema_name:
        # Belt and braces: codes must only ever land in the allocation's own partner schema.
        raise RuntimeError(
            f"Allocation {allocation_id} belongs to {allocation.partner.schema_name}, "
            f"not {tenant_connection.schema_name}."
        )
    Allocation.objects.filter(pk=allocation_id).update(status=Allocation.Status.RUNNING, error="")
    program = allocation.program
    try:
        progress.update(1, "Preparing the partner's campaign…")
        campaign, _created = campaign_ensure(program)
        campaign_grant_distributors(campaign=campaign, partner_id=allocation.partner_id)

        def record(made: int) -> None:
            # Runs inside each chunk's transaction: codes, count and rollup commit together.
            Allocation.objects.filter(pk=allocation_id).update(
                codes_created=F("codes_created") + made
            )
            rollups.record_allocated(program_id=program.pk, quantity=made)

        remaining = allocation.quantity - allocation.codes_created
        if remaining > 0:
            vouchers_generate(
                campaign,
                remaining,
                progress,
                on_chunk=record,
                done_before=allocation.codes_created,
                total=allocation.quantity,
            )
    except Exception as exc:
        with transaction.atomic():
            Allocation.objects.filter(pk=allocation_id).update(
                status=Allocation.Status.FAILED,
                error=(str(exc) or exc.__class__.__name__)[:300],
                finished_at=timezone.now(),
            )
        raise  # run_in_schema records the reason on the JobRun
    Allocation.objects.filter(pk=allocation_id).update(
        status=Allocation.Status.SUCCEEDED, finished_at=timezone.now()
    )
    # New codes: distributions paused because the pool ran dry pick up where they stopped.
    distributions_resume_pool_paused()
    progress.succeed(
        f"{allocation.quantity:,} codes of {program.name} are ready for {allocation.partner.name}.",
        result={"allocation_id": allocation_id, "campaign_id": campaign.pk},
    )
