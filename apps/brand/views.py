"""Brand console pages (public schema): dashboard, partners, programs and allocations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from apps import rollups
from apps.accounts import permissions as perms
from apps.accounts.actors import request_actor
from apps.brand import selectors
from apps.brand.forms import (
    AllocationForm,
    CodeFormatForm,
    PartnerCreateForm,
    ProgramForm,
    capacity_text,
    code_format_of,
)
from apps.brand.models import Allocation, Program
from apps.brand.services import allocation_create, program_create, program_update
from apps.campaigns.codegen import CodeFormat, CodeFormatError, sample_codes
from apps.core.csv import streamed_csv
from apps.core.errors import DomainError
from apps.core.htmx import render_form
from apps.core.models import JobRun
from apps.core.permissions import capability, has_capability
from apps.core.refusals import refusal_on_form
from apps.tenancy.models import Partner
from apps.tenancy.services import partner_create

PAGE_SIZE = 25


# --- Dashboard -----------------------------------------------------------------------------


@capability(perms.BRAND_VIEW)
def dashboard(request: HttpRequest) -> HttpResponse:
    rollups.flush()  # fold the last seconds' redemptions in before reading
    rows = selectors.dashboard_rows()
    chart = selectors.redemptions_chart()
    totals = {
        "allocated": sum(r.allocated for r in rows),
        "published": sum(r.published for r in rows),
        "redeemed": sum(r.redeemed for r in rows),
    }
    partners = Partner.objects.real()
    return render(
        request,
        "brand/dashboard.html",
        {
            "rows": rows,
            "totals": totals,
            "chart_json": json.dumps(chart),
            "chart_has_data": bool(chart["data"]["datasets"]),
            "chart_days": selectors.CHART_DAYS,
            "partner_count": partners.count(),
            "ready_count": partners.filter(status=Partner.Status.READY).count(),
        },
    )


@capability(perms.BRAND_VIEW)
def dashboard_export(request: HttpRequest) -> StreamingHttpResponse:
    rollups.flush()

    def rows() -> Iterator[list[Any]]:
        for row in selectors.dashboard_rows():
            rate = row.redemption_rate
            yield [
                row.name,
                row.slug,
                row.allocated,
                row.published,
                row.redeemed,
                "" if rate is None else f"{rate * 100:.1f}",
                row.rate_basis,
                row.discount_total,
                row.last_activity_at,
            ]

    return streamed_csv(
        filename=f"partners-{timezone.localdate():%Y-%m-%d}.csv",
        header=[
            "partner",
            "slug",
            "codes_allocated",
            "codes_published",
            "codes_redeemed",
            "redemption_rate_percent",
            "rate_of",
            "discount_total_minor_units",
            "last_activity",
        ],
        rows=rows,
    )


# --- Partners ------------------------------------------------------------------------------


@capability(perms.BRAND_VIEW)
def partner_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    partners = Partner.objects.real().order_by("name")
    if query:
        partners = partners.filter(name__icontains=query) | partners.filter(slug__icontains=query)
    page = Paginator(partners, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "brand/partner_list.html", {"page": page, "q": query})


@capability(perms.BRAND_MANAGE)
def partner_create_view(request: HttpRequest) -> HttpResponse:
    form = PartnerCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with refusal_on_form(form, ValidationError):
            partner, job_run = partner_create(actor=request_actor(request), **form.cleaned_data)
            messages.info(request, f"Creating {partner.name}… this takes a few seconds.")
            return redirect("brand:partner_detail", partner_slug=partner.slug)
    return render_form(request, "brand/partner_form.html", form)


@capability(perms.BRAND_VIEW)
def partner_detail(request: HttpRequest, partner_slug: str) -> HttpResponse:
    partner = get_object_or_404(Partner.objects.real(), slug=partner_slug)
    job_run = JobRun.objects.filter(subject=f"partner:{partner.pk}").first()
    memberships = partner.memberships.select_related("user").order_by("role", "user__email")
    allocations = selectors.allocation_list(partner_id=partner.pk)[:10]
    form = None
    if has_capability(request, perms.BRAND_MANAGE) and partner.status == Partner.Status.READY:
        form = AllocationForm(initial={"partner": partner.pk}, fixed="partner")
    return render(
        request,
        "brand/partner_detail.html",
        {
            "partner": partner,
            "job_run": job_run,
            "memberships": memberships,
            "allocations": allocations,
            "allocation_form": form,
        },
    )


# --- Programs ------------------------------------------------------------------------------


@capability(perms.BRAND_VIEW)
def program_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    page = Paginator(selectors.program_list(query=query), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "brand/program_list.html", {"page": page, "q": query})


def _preview(fmt: CodeFormat | None, error: str = "") -> dict[str, Any]:
    if fmt is not None and not error:
        try:
            return {"samples": sample_codes(fmt), "capacity": capacity_text(fmt), "error": ""}
        except CodeFormatError as exc:
            error = str(exc)
    return {"samples": [], "capacity": "", "error": error}


def _form_preview(form: ProgramForm) -> dict[str, Any]:
    """Sample codes for what the form holds (bound or not)."""
    if form.is_bound:
        format_form = CodeFormatForm(form.data)
        if not format_form.is_valid():
            return _preview(None, "Fill in the code format to see sample codes.")
        data = format_form.cleaned_data
    else:
        data = {name: form[name].value() for name in CodeFormatForm.base_fields}
    try:
        return _preview(code_format_of(data))
    except ValueError:
        return _preview(None, "Choose one of the character sets.")


@capability(perms.BRAND_MANAGE)
def program_create_view(request: HttpRequest) -> HttpResponse:
    form = ProgramForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        program = program_create(actor=request_actor(request), terms=form.cleaned_data)
        messages.success(request, f"Program {program.name} created. Allocate codes to a partner.")
        return redirect("brand:program_detail", program_id=program.pk)
    context = {"program": None, "preview": _form_preview(form), "live": True}
    return render_form(request, "brand/program_form.html", form, context)


@capability(perms.BRAND_MANAGE)
def program_edit(request: HttpRequest, program_id: int) -> HttpResponse:
    program = get_object_or_404(Program, pk=program_id)
    locked = program.allocations.exists()
    form = ProgramForm(request.POST or None, instance=program, lock_format=locked)
    if request.method == "POST" and form.is_valid():
        program_update(actor=request_actor(request), program=program, terms=form.cleaned_data)
        messages.success(request, f"Program {program.name} saved.")
        return redirect("brand:program_detail", program_id=program.pk)
    preview = _preview(program.code_format()) if locked else _form_preview(form)
    context = {"program": program, "preview": preview, "live": not locked}
    return render_form(request, "brand/program_form.html", form, context)


@capability(perms.BRAND_MANAGE)
@require_GET
def program_preview(request: HttpRequest) -> HttpResponse:
    """The sample-codes fragment of the program form, for the format in the query string."""
    form = CodeFormatForm(request.GET)
    if not form.is_valid():
        first = next(iter(form.errors.values()))[0]
        preview = _preview(None, f"Check the code format: {first}")
    else:
        preview = _preview(code_format_of(form.cleaned_data))
    return render(request, "brand/program_form.html#preview", {"preview": preview, "live": True})


@capability(perms.BRAND_VIEW)
def program_detail(request: HttpRequest, program_id: int) -> HttpResponse:
    program = get_object_or_404(Program, pk=program_id)
    form = None
    if has_capability(request, perms.BRAND_MANAGE):
        form = AllocationForm(initial={"program": program.pk}, fixed="program")
    return render(
        request,
        "brand/program_detail.html",
        {
            "program": program,
            "preview": _preview(program.code_format()),
            "partner_totals": selectors.program_partner_totals(program=program),
            "allocations": selectors.allocation_list(program_id=program.pk)[:10],
            "allocation_form": form,
        },
    )


# --- Allocations ---------------------------------------------------------------------------


@capability(perms.BRAND_VIEW)
def allocation_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    allocations = selectors.allocation_list()
    if query:
        allocations = allocations.filter(
            Q(program__name__icontains=query)
            | Q(partner__name__icontains=query)
            | Q(partner__slug__icontains=query)
        )
    page = Paginator(allocations, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "brand/allocation_list.html", {"page": page, "q": query})


@capability(perms.BRAND_MANAGE)
def allocation_create_view(request: HttpRequest) -> HttpResponse:
    """The allocation form on its own page; the program and partner pages post here too, and
    a refused form comes back here with both choosers visible."""
    if request.method == "POST":
        form = AllocationForm(request.POST)
    else:
        initial = {k: request.GET[k] for k in ("program", "partner") if request.GET.get(k)}
        form = AllocationForm(initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            allocation = allocation_create(actor=request_actor(request), **form.cleaned_data)
        except DomainError as exc:
            form.add_error("partner" if exc.key == "partner_not_ready" else "quantity", exc.message)
        else:
            messages.info(request, f"Generating {allocation.quantity:,} codes…")
            return redirect("brand:allocation_detail", allocation_id=allocation.pk)
    return render_form(request, "brand/allocation_form.html", form)


@capability(perms.BRAND_VIEW)
def allocation_detail(request: HttpRequest, allocation_id: int) -> HttpResponse:
    allocation = get_object_or_404(
        Allocation.objects.select_related("program", "partner", "created_by", "job_run"),
        pk=allocation_id,
    )
    return render(request, "brand/allocation_detail.html", {"allocation": allocation})
