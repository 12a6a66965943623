"""Brand console pages (public schema)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from apps.accounts import permissions as perms
from apps.brand.forms import PartnerCreateForm
from apps.core.models import JobRun
from apps.core.permissions import capability
from apps.tenancy.models import Partner
from apps.tenancy.services import partner_create


@capability(perms.BRAND_VIEW)
def dashboard(request: HttpRequest) -> HttpResponse:
    partners = Partner.objects.real().order_by("name")
    return render(
        request,
        "brand/dashboard.html",
        {
            "partners": partners,
            "partner_count": partners.count(),
            "ready_count": partners.filter(status=Partner.Status.READY).count(),
        },
    )


@capability(perms.BRAND_VIEW)
def partner_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    partners = Partner.objects.real().order_by("name")
    if query:
        partners = partners.filter(name__icontains=query) | partners.filter(slug__icontains=query)
    page = Paginator(partners, 25).get_page(request.GET.get("page"))
    return render(request, "brand/partner_list.html", {"page": page, "q": query})


@capability(perms.BRAND_MANAGE)
def partner_create_view(request: HttpRequest) -> HttpResponse:
    form = PartnerCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            partner, job_run = partner_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            for field, problems in exc.message_dict.items():
                for problem in problems:
                    form.add_error(field if field in form.fields else None, problem)
        else:
            messages.info(request, f"Creating {partner.name}… this takes a few seconds.")
            return redirect("brand:partner_detail", partner_slug=partner.slug)
    status = 400 if form.errors else 200
    return render(request, "brand/partner_form.html", {"form": form}, status=status)


@capability(perms.BRAND_VIEW)
def partner_detail(request: HttpRequest, partner_slug: str) -> HttpResponse:
    partner = get_object_or_404(Partner.objects.real(), slug=partner_slug)
    job_run = JobRun.objects.filter(subject=f"partner:{partner.pk}").first()
    memberships = partner.memberships.select_related("user").order_by("role", "user__email")
    return render(
        request,
        "brand/partner_detail.html",
        {
            "partner": partner,
            "job_run": job_run,
            "memberships": memberships,
        },
    )
