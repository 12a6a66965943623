"""Writes for partners: creating one records the row, then a job builds its schema."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.core.db import tenant_connection
from apps.core.jobs import Progress, enqueue, job_run_create
from apps.core.models import JobRun
from apps.tenancy.models import Domain, Partner, schema_name_for, validate_partner_slug


@transaction.atomic
def partner_create(
    *, name: str, slug: str, actor: AbstractBaseUser | None = None
) -> tuple[Partner, JobRun]:
    """Record a partner and enqueue the job that creates its schema. Raises ValidationError
    with a field-keyed message for a bad or duplicate slug or an empty name. `actor` is an
    apps.accounts.actors.Actor, typed by Django's base class: accounts sits above tenancy."""
    name = (name or "").strip()
    slug = (slug or "").strip().lower()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["Enter the partner's name."]
    try:
        validate_partner_slug(slug)
    except ValidationError as exc:
        errors["slug"] = list(exc.messages)
    if "slug" not in errors and Partner.objects.filter(slug=slug).exists():
        errors["slug"] = [f"A partner with the slug “{slug}” already exists; choose another."]
    if errors:
        raise ValidationError(errors)
    partner = Partner.objects.create(name=name, slug=slug, schema_name=schema_name_for(slug))
    Domain.objects.create(domain=slug, tenant=partner, is_primary=True)
    job_run = job_run_create(
        kind="partner.create",
        label=f"Create partner {name}",
        subject=f"partner:{partner.pk}",
        created_by=actor,
        schema_name="public",
    )
    enqueue(
        "apps.tenancy.jobs.partner_build_schema",
        partner.pk,
        job_run=job_run,
        job_run_id=str(job_run.pk),
        queue="high",
        schema_name="public",
    )
    return partner, job_run


def partner_build_schema_now(partner: Partner, progress: Progress | None = None) -> Partner:
    """Create and migrate the partner's schema (idempotent), then mark it ready."""
    progress = progress or Progress(None)
    progress.update(10, "Creating the partner's database schema…")
    partner.create_schema(check_if_exists=True, verbosity=0)
    tenant_connection.set_schema_to_public()
    progress.update(90, "Finishing…")
    Partner.objects.filter(pk=partner.pk).update(status=Partner.Status.READY)
    partner.status = Partner.Status.READY
    return partner
