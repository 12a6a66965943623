"""Partner pages for customers: the list (search, filters, keyset pages, CSV export), the
customer page, create and edit, and the CSV import (upload → mapping → job → report)."""

from __future__ import annotations

import csv
import io
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.text import slugify

from apps.accounts import permissions as perms
from apps.accounts.actors import request_actor
from apps.core.csv import streamed_csv
from apps.core.htmx import render_form, render_page
from apps.core.permissions import capability, has_capability
from apps.core.refusals import refusal_as_message, refusal_on_form
from apps.customers.forms import (
    CustomerFilterForm,
    CustomerForm,
    ImportMappingForm,
    ImportUploadForm,
)
from apps.customers.importing import ImportFileError, detect_delimiter, read_header
from apps.customers.models import Customer, CustomerImport
from apps.customers.selectors import (
    EXPORT_COLUMNS,
    customer_count,
    customer_detail,
    customer_export_rows,
    customer_import_list,
    customer_list,
    customer_page,
)
from apps.customers.services import (
    CustomerError,
    customer_create,
    customer_import_create,
    customer_import_start,
    customer_update,
)


def _filter_query(filters: dict) -> str:
    return urlencode({k: v for k, v in filters.items() if v not in ("", None)})


@capability(perms.AUDIENCE_VIEW)
def customer_list_view(request: HttpRequest) -> HttpResponse:
    filter_form = CustomerFilterForm(request.GET or None)
    filters = filter_form.values()
    customers = customer_list(**filters)
    page = customer_page(
        customers, after=request.GET.get("after"), before=request.GET.get("before")
    )
    filtered = any(v not in ("", None) for v in filters.values())
    count, estimated = customer_count(filtered=customers if filtered else None)
    context = {
        "filter_form": filter_form,
        "filters": filters,
        "filtered": filtered,
        "filter_query": _filter_query(filters),
        "page": page,
        "count": count,
        "estimated": estimated,
        "can_manage": has_capability(request, perms.AUDIENCE_MANAGE),
    }
    return render_page(request, "customers/list.html", context, fragment="table")


@capability(perms.AUDIENCE_VIEW)
def customer_export(request: HttpRequest) -> HttpResponse:
    filters = CustomerFilterForm(request.GET or None).values()
    # A streaming response is no HttpResponse subclass, but @capability only passes it on.
    return streamed_csv(  # type: ignore[return-value]
        filename="customers.csv",
        header=EXPORT_COLUMNS,
        rows=lambda: customer_export_rows(customer_list(**filters)),
    )


@capability(perms.AUDIENCE_MANAGE)
def customer_edit(request: HttpRequest, customer_id: int | None = None) -> HttpResponse:
    """Edit a customer, or add one when the URL names none: one form with one error mapping,
    only the service differs."""
    customer = get_object_or_404(Customer, pk=customer_id) if customer_id is not None else None
    form = CustomerForm(request.POST or None, instance=customer)
    if request.method == "POST" and form.is_valid():
        with refusal_on_form(form, CustomerError):
            if customer is None:
                customer = customer_create(data=form.data_for_service())
                done = "Added"
            else:
                customer_update(customer=customer, data=form.data_for_service())
                done = "Saved"
            messages.success(request, f"{done} {customer}.")
            return redirect("customers:detail", customer_id=customer.pk)
    return render_form(request, "customers/form.html", form, {"customer": customer})


# The URLs keep the two pages apart (customers:create and customers:edit).
customer_create_view = customer_edit


@capability(perms.AUDIENCE_VIEW)
def customer_detail_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = get_object_or_404(Customer, pk=customer_id)
    context = {
        "customer": customer,
        "can_manage": has_capability(request, perms.AUDIENCE_MANAGE),
        **customer_detail(customer=customer),
    }
    return render_page(request, "customers/detail.html", context)


# --- CSV import -------------------------------------------------------------------------------


@capability(perms.AUDIENCE_VIEW)
def import_list(request: HttpRequest) -> HttpResponse:
    context = {
        "imports": customer_import_list()[:100],
        "can_manage": has_capability(request, perms.AUDIENCE_MANAGE),
    }
    return render_page(request, "customers/import_list.html", context)


@capability(perms.AUDIENCE_MANAGE)
def import_create(request: HttpRequest) -> HttpResponse:
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        customer_import = customer_import_create(
            filename=form.cleaned_data["file"].name,
            content=form.text,
            created_by=request_actor(request),
        )
        return redirect("customers:import_mapping", import_id=customer_import.pk)
    return render_form(request, "customers/import_form.html", form)


@capability(perms.AUDIENCE_MANAGE)
def import_mapping(request: HttpRequest, import_id: int) -> HttpResponse:
    customer_import = get_object_or_404(CustomerImport, pk=import_id)
    if customer_import.status != CustomerImport.Status.MAPPING:
        return redirect("customers:import_detail", import_id=customer_import.pk)
    try:
        columns = read_header(customer_import.content)
    except ImportFileError as exc:  # the upload checked it; only a hand-made row gets here
        messages.error(request, exc.message)
        return redirect("customers:import_list")
    form = ImportMappingForm(
        request.POST or None, columns=columns, initial_mapping=customer_import.mapping
    )
    if request.method == "POST" and form.is_valid():
        with refusal_as_message(request, level=messages.INFO):
            customer_import_start(
                customer_import=customer_import,
                mapping=form.cleaned_data["mapping"],
                match_on=form.cleaned_data["match_on"],
                actor=request_actor(request),
            )
        return redirect("customers:import_detail", import_id=customer_import.pk)
    context = {"customer_import": customer_import, "preview": _preview(customer_import)}
    return render_form(request, "customers/import_mapping.html", form, context)


def _preview(customer_import: CustomerImport, rows: int = 3) -> list[list[str]]:
    """The first data rows, shown beside the mapping so people recognise their columns."""
    head = "\n".join(customer_import.content.split("\n", rows + 1)[: rows + 1])
    reader = csv.reader(io.StringIO(head), delimiter=detect_delimiter(head))
    try:
        return list(reader)[1:]
    except csv.Error:
        return []


@capability(perms.AUDIENCE_VIEW)
def import_detail(request: HttpRequest, import_id: int) -> HttpResponse:
    customer_import = get_object_or_404(CustomerImport.objects.defer("content"), pk=import_id)
    context = {"customer_import": customer_import, "job_run": customer_import.job_run}
    return render_page(request, "customers/import_detail.html", context, fragment="outcome")


@capability(perms.AUDIENCE_VIEW)
def import_errors(request: HttpRequest, import_id: int) -> HttpResponse:
    customer_import = get_object_or_404(CustomerImport.objects.defer("content"), pk=import_id)
    body = customer_import.error_report or "row,column,problem\r\n"
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    stem = slugify(customer_import.filename.rsplit(".", 1)[0]) or "import"
    response["Content-Disposition"] = f'attachment; filename="{stem}-errors.csv"'
    return response
