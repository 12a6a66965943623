"""Tenant-aware background jobs.

Every job carries the schema it was enqueued from and runs inside it, so a job can never act on
another partner's data by accident (ARCHITECTURE section 3). Jobs are enqueued when the
surrounding transaction commits: a job never starts before the rows it needs are visible, and a
rolled-back request enqueues nothing.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import django_rq
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tenants.utils import schema_context

from apps.core.db import tenant_connection
from apps.core.models import JobRun

logger = logging.getLogger(__name__)


def _dotted(func: Callable[..., Any] | str) -> str:
    return func if isinstance(func, str) else f"{func.__module__}.{func.__qualname__}"


class TenantQueue:
    """An RQ queue whose jobs remember the schema that enqueued them."""

    def __init__(self, name: str = "default") -> None:
        self.name = name

    def enqueue(
        self,
        func: Callable[..., Any] | str,
        *args: Any,
        schema_name: str | None = None,
        job_run: JobRun | None = None,
        job_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Enqueue `func(*args, **kwargs)` to run in `schema_name` (default: the current
        schema) once the current transaction commits."""
        schema = schema_name or tenant_connection.schema_name
        payload = {
            "schema_name": schema,
            "func": _dotted(func),
            "args": list(args),
            "kwargs": kwargs,
            "job_run_id": str(job_run.pk) if job_run else None,
        }

        def push() -> None:
            queue = django_rq.get_queue(self.name)
            queue.enqueue(
                run_in_schema,
                payload,
                job_id=job_id,
                meta={"schema_name": schema},
                description=f"{payload['func']} [{schema}]",
            )

        transaction.on_commit(push)


def enqueue(
    func: Callable[..., Any] | str, *args: Any, queue: str = "default", **kwargs: Any
) -> None:
    TenantQueue(queue).enqueue(func, *args, **kwargs)


def enqueue_now(
    func: str,
    *args: Any,
    schema_name: str,
    queue: str = "default",
    delay: float = 0,
    description: str = "",
) -> None:
    """Push `func(*args)` to run in `schema_name` right away (or after `delay` seconds, via
    the worker's scheduler), not on commit: for debounced triggers that already run after
    the commit, or inside a job."""

    payload: dict[str, Any] = {
        "schema_name": schema_name,
        "func": func,
        "args": list(args),
        "kwargs": {},
        "job_run_id": None,
    }
    options = {
        "meta": {"schema_name": schema_name},
        "description": f"{description or func} [{schema_name}]",
    }
    rq_queue = django_rq.get_queue(queue)
    if delay > 0:
        rq_queue.enqueue_in(timedelta(seconds=delay), run_in_schema, payload, **options)
    else:
        rq_queue.enqueue(run_in_schema, payload, **options)


def run_in_schema(payload: dict[str, Any]) -> Any:
    """The RQ entry point: switch to the job's schema, then run it; record failures on the
    JobRun so the progress bar shows them instead of spinning forever."""
    func = import_string(payload["func"])
    job_run_id = payload.get("job_run_id")
    with schema_context(payload["schema_name"]):
        if job_run_id:
            JobRun.objects.filter(pk=job_run_id, status=JobRun.Status.QUEUED).update(
                status=JobRun.Status.RUNNING, started_at=timezone.now()
            )
        try:
            return func(*payload["args"], **payload["kwargs"])
        except Exception as exc:
            logger.exception("job %s failed in %s", payload["func"], payload["schema_name"])
            if job_run_id:
                JobRun.objects.filter(pk=job_run_id).update(
                    status=JobRun.Status.FAILED,
                    message=(str(exc) or exc.__class__.__name__)[:300],
                    error=traceback.format_exc()[-5000:],
                    finished_at=timezone.now(),
                )
            raise


class Progress:
    """What a job uses to report on its JobRun: `progress.update(40, "Generating codes…")`."""

    def __init__(self, job_run_id: str | None) -> None:
        self.job_run_id = job_run_id

    def _update(self, **fields: Any) -> None:
        if self.job_run_id:
            JobRun.objects.filter(pk=self.job_run_id).update(**fields)

    def update(self, percent: float, message: str = "") -> None:
        fields: dict[str, Any] = {
            "progress": max(0, min(100, int(percent))),
            "status": JobRun.Status.RUNNING,
        }
        if message:
            fields["message"] = message[:300]
        self._update(**fields)

    def succeed(self, message: str = "Done", result: dict[str, Any] | None = None) -> None:
        self._update(
            status=JobRun.Status.SUCCEEDED,
            progress=100,
            message=message[:300],
            result=result or {},
            finished_at=timezone.now(),
        )

    def fail(self, message: str) -> None:
        self._update(status=JobRun.Status.FAILED, message=message[:300], finished_at=timezone.now())


def job_run_create(
    *,
    kind: str,
    label: str,
    subject: str = "",
    created_by: Any = None,
    schema_name: str | None = None,
) -> JobRun:
    return JobRun.objects.create(
        kind=kind,
        label=label,
        subject=subject,
        created_by=created_by,
        schema_name=schema_name or tenant_connection.schema_name,
    )
