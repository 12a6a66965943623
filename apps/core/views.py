"""Views that belong to no domain: the health check and the error pages."""

from __future__ import annotations

import django_rq
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.template import loader
from django.views.decorators.cache import never_cache

from apps.core.db import tenant_connection
from apps.core.htmx import render_page
from apps.core.models import JobRun
from apps.core.permissions import PUBLIC, capability


@never_cache
@capability(PUBLIC)
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and readiness in one: 200 when PostgreSQL and Redis answer, 503 otherwise."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - report any failure, do not raise
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        django_rq.get_connection("default").ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"error: {exc.__class__.__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503
    )


def error_403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "403.html", {"reason": str(exception or "")}, status=403)


def error_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


def error_500(request: HttpRequest) -> HttpResponse:
    # No context processors that touch the database: the database may be why we are here.

    return HttpResponse(loader.get_template("500.html").render(), status=500)


@capability("jobs.view")
def job_progress(request: HttpRequest, job_id: str) -> HttpResponse:
    """A job's progress bar. Polled by htmx every second until the job finishes; a run that
    belongs to another schema is a 404."""
    job_run = get_object_or_404(JobRun, pk=job_id, schema_name=tenant_connection.schema_name)
    return render_page(request, "core/job_progress.html", {"job_run": job_run}, fragment="progress")
