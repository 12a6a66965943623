"""Tenant-aware jobs: the schema travels with the job; progress and failure are recorded."""

from __future__ import annotations

import django_rq
from django.db import connection
from django_tenants.utils import schema_context

from apps.core.jobs import Progress, enqueue, job_run_create
from apps.core.models import JobRun

SEEN: dict[str, str] = {}


def record_schema(tag: str, *, job_run_id: str | None = None) -> None:
    SEEN[tag] = connection.schema_name
    Progress(job_run_id).update(50, "half way")
    Progress(job_run_id).succeed("all done", result={"tag": tag})


def test_job_runs_in_the_schema_it_was_enqueued_from(
    partner_a, run_jobs, django_capture_on_commit_callbacks
):
    # given a job enqueued while in partner alpha's schema
    with schema_context("p_alpha"):
        run = job_run_create(kind="test", label="Record")
        with django_capture_on_commit_callbacks(execute=True):
            enqueue(record_schema, "a", job_run=run, job_run_id=str(run.pk))
    assert run.schema_name == "p_alpha"
    # when a worker that sits in public runs it
    run_jobs()
    # then
    assert SEEN["a"] == "p_alpha"
    run.refresh_from_db()
    assert (run.status, run.progress, run.result) == ("succeeded", 100, {"tag": "a"})


def test_job_is_enqueued_only_when_the_transaction_commits(db):
    # given
    queue = django_rq.get_queue("default")
    queue.empty()
    # when enqueued inside a transaction that is never committed (the test's own)
    enqueue(record_schema, "never")
    # then nothing is on the queue yet
    assert queue.count == 0


def explode() -> None:
    raise ValueError("the input file is empty")


def test_failing_job_marks_its_run_failed(db, run_jobs, django_capture_on_commit_callbacks):
    # given
    run = job_run_create(kind="test", label="Explode")
    with django_capture_on_commit_callbacks(execute=True):
        enqueue(explode, job_run=run)
    # when
    run_jobs()
    # then
    run.refresh_from_db()
    assert run.status == JobRun.Status.FAILED
    assert run.message == "the input file is empty"
    assert "ValueError" in run.error
