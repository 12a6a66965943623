"""RQ entry points for customers. They take ids only, run in the partner's schema (the tenant
queue puts them there) and are safe to run twice."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from apps.core.jobs import Progress
from apps.customers.events import audience_changed
from apps.customers.importing import ImportFileError, Outcome, import_rows
from apps.customers.models import CustomerImport


def customer_import_run(import_id: int, *, job_run_id: str | None = None) -> None:
    """Run a queued CSV import (see apps.customers.importing). Only a QUEUED import is claimed,
    so a second delivery of the same job finds nothing to do. The customers, the counts and
    the error report commit in one transaction: a crash leaves the customers as they were."""
    progress = Progress(job_run_id)
    claimed = CustomerImport.objects.filter(
        pk=import_id, status=CustomerImport.Status.QUEUED
    ).update(status=CustomerImport.Status.RUNNING)
    if not claimed:
        return
    customer_import = CustomerImport.objects.get(pk=import_id)
    progress.update(1, "Reading the file…")

    def saved(outcome: Outcome) -> None:
        CustomerImport.objects.filter(pk=import_id).update(
            status=CustomerImport.Status.SUCCEEDED,
            rows_total=outcome.total,
            rows_created=outcome.created,
            rows_updated=outcome.updated,
            rows_failed=outcome.failed_rows,
            error_report=outcome.report_csv() if outcome.errors else "",
            message=summary(outcome)[:300],
            finished_at=timezone.now(),
        )

    try:
        outcome = import_rows(
            text=customer_import.content,
            mapping=customer_import.mapping,
            match_on=customer_import.match_on,
            event_payload={"source": "import", "import_id": import_id},
            on_progress=progress.update,
            on_saved=saved,
        )
    except Exception as exc:
        message = exc.message if isinstance(exc, ImportFileError) else "The import failed"
        with transaction.atomic():
            CustomerImport.objects.filter(pk=import_id).update(
                status=CustomerImport.Status.FAILED,
                message=f"{message}; no customer was changed."[:300],
                finished_at=timezone.now(),
            )
        raise  # run_in_schema records the reason on the JobRun
    if outcome.created or outcome.updated:
        audience_changed()
    progress.succeed(
        summary(outcome),
        result={
            "import_id": import_id,
            "rows": outcome.total,
            "created": outcome.created,
            "updated": outcome.updated,
            "unchanged": outcome.unchanged,
            "failed": outcome.failed_rows,
        },
    )


def summary(outcome: Outcome) -> str:
    text = (
        f"{outcome.total:,} rows: {outcome.created:,} new customers, {outcome.updated:,} "
        f"updated, {outcome.unchanged:,} unchanged"
    )
    if outcome.failed_rows:
        text += f"; {outcome.failed_rows:,} rows not imported (see the error report)"
    return text + "."
