"""Writes for the brand console: programs, and allocations of code pools to partners."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.accounts.actors import Actor
from apps.brand.models import Allocation, Program
from apps.brand.selectors import allocated_count
from apps.campaigns.codegen import CodeFormatError, validate_format
from apps.core.errors import DomainError
from apps.core.jobs import enqueue, job_run_create
from apps.tenancy.models import Partner


@transaction.atomic
def program_create(*, actor: Actor, terms: dict[str, Any]) -> Program:
    return Program.objects.create(created_by=actor, **terms)


@transaction.atomic
def program_update(*, actor: Actor, program: Program, terms: dict[str, Any]) -> Program:
    """Change a program. Partner campaigns already made from it keep their own copy of the
    terms; the code format is fixed once codes exist (the form disables those fields)."""
    for name, value in terms.items():
        setattr(program, name, value)
    program.save()
    return program


@transaction.atomic
def allocation_create(
    *, actor: Actor, program: Program, partner: Partner, quantity: int
) -> Allocation:
    """Record an allocation of `quantity` codes and enqueue their generation in the partner's
    schema. Raises DomainError (key from CodeFormatError where it applies) when the partner
    is not ready or the program's format cannot make that many more codes for it."""
    if partner.is_public or partner.status != Partner.Status.READY:
        raise DomainError(
            f"{partner.name} is not ready yet; wait until its set-up has finished.",
            key="partner_not_ready",
        )
    # Two allocations of one program at once must not both pass the capacity check.
    program = Program.objects.select_for_update().get(pk=program.pk)
    existing = allocated_count(program=program, partner=partner)
    try:
        validate_format(program.code_format(), count=quantity, existing=existing)
    except CodeFormatError as exc:
        raise DomainError(str(exc), key=exc.key) from exc
    allocation = Allocation.objects.create(
        program=program, partner=partner, quantity=quantity, created_by=actor
    )
    kind = "Top up" if existing else "Allocate"
    job_run = job_run_create(
        kind="brand.allocation",
        label=f"{kind} {quantity:,} codes of {program.name} for {partner.name}",
        subject=f"allocation:{allocation.pk}",
        created_by=actor,
        schema_name="public",  # brand admins watch it; partners never see brand job runs
    )
    allocation.job_run = job_run
    allocation.save(update_fields=["job_run"])
    enqueue(
        "apps.brand.jobs.allocation_generate",
        allocation.pk,
        job_run=job_run,
        job_run_id=str(job_run.pk),
        schema_name=partner.schema_name,
    )
    return allocation
