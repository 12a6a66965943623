"""Creating partners from the brand console and the command line; routing to their portals."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_exists

from apps.core.models import JobRun
from apps.tenancy.models import Partner


@pytest.fixture
def cleanup_schema():
    created: list[str] = []
    yield created
    for schema in created:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_brand_admin_creates_a_partner_in_a_background_job(
    client, brand_admin, run_jobs, django_capture_on_commit_callbacks, cleanup_schema
):
    # given
    client.force_login(brand_admin)
    cleanup_schema.append("p_gamma_shop")
    # when the form is posted, the job is queued on commit, not run
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/brand/partners/new/", {"name": "Gamma Shop", "slug": "gamma-shop"})
    # then
    assert response.status_code == 302
    assert response.url == "/brand/partners/gamma-shop/"
    partner = Partner.objects.get(slug="gamma-shop")
    assert partner.status == Partner.Status.CREATING
    job = JobRun.objects.get(subject=f"partner:{partner.pk}")
    assert job.status == JobRun.Status.QUEUED
    page = client.get(response.url).content.decode()
    assert 'role="progressbar"' in page and 'aria-valuenow="0"' in page
    # when a worker runs the job
    run_jobs()
    # then the schema exists, the partner is ready and the bar reads 100%
    partner.refresh_from_db()
    job.refresh_from_db()
    assert partner.status == Partner.Status.READY
    assert schema_exists("p_gamma_shop")
    assert (job.status, job.progress) == (JobRun.Status.SUCCEEDED, 100)
    fragment = client.get(f"/brand/jobs/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'aria-valuenow="100"' in fragment and "hx-trigger" not in fragment
    assert "<html" not in fragment


@pytest.mark.parametrize(
    "slug, problem",
    [
        ("", "This field is required"),
        ("Bad Slug", "3 to 40 characters"),
        ("ab", "3 to 40 characters"),
        ("-lead", "3 to 40 characters"),
        ("trail-", "3 to 40 characters"),
        ("brand", "reserved"),
        ("alpha", "already exists"),
        ("x" * 41, "at most 40 characters"),
    ],
)
def test_bad_or_duplicate_slug_is_a_form_error(client, brand_admin, partner_a, slug, problem):
    # given
    client.force_login(brand_admin)
    count = Partner.objects.count()
    # when
    response = client.post("/brand/partners/new/", {"name": "Whatever", "slug": slug})
    # then
    assert response.status_code == 400
    assert problem in response.content.decode()
    assert Partner.objects.count() == count
    assert not JobRun.objects.filter(kind="partner.create").exists()


def test_failed_job_shows_its_reason(
    client, brand_admin, run_jobs, django_capture_on_commit_callbacks, monkeypatch
):
    # given a schema build that breaks
    def broken(self, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Partner, "create_schema", broken)
    client.force_login(brand_admin)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/brand/partners/new/", {"name": "Delta", "slug": "delta"})
    # when
    run_jobs()
    # then
    partner = Partner.objects.get(slug="delta")
    job = JobRun.objects.get(subject=f"partner:{partner.pk}")
    assert partner.status == Partner.Status.FAILED
    assert job.status == JobRun.Status.FAILED and "disk full" in job.message
    fragment = client.get(f"/brand/jobs/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "disk full" in fragment and "Failed" in fragment


def test_create_partner_command(db, cleanup_schema, capsys):
    # given
    cleanup_schema.append("p_epsilon")
    # when
    call_command("create_partner", "--name", "Epsilon", "--slug", "epsilon")
    # then
    assert Partner.objects.get(slug="epsilon").status == Partner.Status.READY
    assert schema_exists("p_epsilon")
    assert "ready at /p/epsilon/" in capsys.readouterr().out


def test_create_partner_command_rejects_bad_slug(db):
    with pytest.raises(CommandError, match="slug: .*3 to 40 characters"):
        call_command("create_partner", "--name", "X", "--slug", "NO WAY")


def test_unknown_or_unready_partner_is_404(client, partner_user_a):
    # given
    Partner.objects.create(name="Pending", slug="pending", schema_name="p_pending")
    client.force_login(partner_user_a)
    # then
    assert client.get("/p/nope/").status_code == 404
    assert client.get("/p/pending/").status_code == 404


def test_requests_run_in_the_partner_schema(client, partner_user_a):
    # given
    client.force_login(partner_user_a)
    seen = {}

    from django.test.signals import template_rendered

    def spy(sender, **kwargs):
        seen.setdefault("schema", connection.schema_name)

    template_rendered.connect(spy)
    try:
        client.get("/p/alpha/")
    finally:
        template_rendered.disconnect(spy)
    # then
    assert seen["schema"] == "p_alpha"
    assert connection.schema_name == "public"  # reset after the request
