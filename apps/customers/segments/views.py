"""Partner pages under /p/<partner>/segments/: list, the filter builder (create / edit, with
a live HTMX preview), detail with members, static member lists, deletion.

The builder form works without JavaScript: "Add condition", "Remove" and "Update" are submit
buttons handled by the same view (re-render, nothing saved); with htmx they swap only the
builder, and every change posts the form to the preview endpoint for the count and a sample.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import OperationalError, connection, transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.accounts import permissions as perms
from apps.core.htmx import render_page
from apps.core.jobs import enqueue
from apps.core.permissions import capability, has_capability
from apps.core.refusals import refusal_as_message
from apps.customers.models import Customer, Segment
from apps.customers.segments.filters import FilterError, describe, segment_count, segment_sample
from apps.customers.segments.forms import (
    FIELD_GROUPS,
    Builder,
    MembersUploadForm,
    SegmentForm,
    campaign_choices,
)
from apps.customers.segments.services import (
    SegmentError,
    segment_create,
    segment_delete,
    segment_members,
    segment_members_add,
    segment_members_remove,
    segment_members_upload,
    segment_update,
)

PREVIEW_SAMPLE = 10
# A preview runs on every keystroke (debounced); a pathological filter must not tie up a
# database connection for long.
PREVIEW_TIMEOUT_MS = 5000


@capability(perms.AUDIENCE_VIEW)
def segment_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    segments = Segment.objects.order_by("name")
    if query:
        segments = segments.filter(name__icontains=query)
    page = Paginator(segments, 50).get_page(request.GET.get("page"))
    rows = [(s, describe(s.filter)) for s in page.object_list]
    return render_page(
        request,
        "segments/list.html",
        {
            "page": page,
            "rows": rows,
            "q": query,
            "can_manage": has_capability(request, perms.AUDIENCE_MANAGE),
        },
    )


def _preview(builder: Builder) -> dict[str, Any]:
    """The live count and sample for the builder's filter, or the problems per condition."""
    data = builder.filter()
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout = %s", [PREVIEW_TIMEOUT_MS])
            count = segment_count(data)
            sample = segment_sample(data, n=PREVIEW_SAMPLE)
    except FilterError as exc:
        builder.show_errors(exc)
        problems = [
            (index + 1 if index is not None else None, message) for index, _, message in exc.errors
        ]
        return {"problems": problems}
    except OperationalError:
        return {
            "timeout": "Counting took too long; add a condition on a customer field to narrow "
            "the search, or save the segment and let it evaluate in the background."
        }
    return {"count": count, "sample": sample, "no_conditions": not builder.rows}


def _builder_context(request: HttpRequest, builder: Builder, **extra: Any) -> dict[str, Any]:
    return {
        "builder": builder,
        "field_groups": FIELD_GROUPS,
        "campaigns": campaign_choices(),
        **extra,
    }


def _builder_page(request: HttpRequest, segment: Segment | None) -> HttpResponse:
    action = request.POST.get("action", "save") if request.method == "POST" else ""
    form_url = (
        reverse("segments:edit", kwargs={"segment_id": segment.pk})
        if segment
        else reverse("segments:create")
    )
    if request.method == "POST":
        builder = Builder.from_post(request.POST)
    else:
        builder = Builder.from_filter(segment.filter if segment else None)
    base = {"segment": segment, "form_url": form_url}

    if action and action != "save":
        # Add / remove / refresh a row: re-render without saving (and without form errors).
        if action == "add":
            builder.add_row()
        elif action.startswith("remove-") and action[7:].isdigit():
            builder.remove_row(int(action[7:]))
        form = SegmentForm(
            initial={"name": request.POST.get("name", ""), "kind": request.POST.get("kind")},
            segment=segment,
        )
        preview = _preview(builder)
        # Half-built rows are normal here: their problems show in the preview only, so the
        # rows do not keep stale messages while the preview moves on.
        for row in builder.rows:
            row.error = ""
        context = _builder_context(
            request, builder, form=form, refresh_preview=True, preview=preview, **base
        )
        return render_page(request, "segments/form.html", context, fragment="builder")

    initial = {"name": segment.name} if segment else {}
    form = SegmentForm(request.POST or None, initial=initial, segment=segment)
    if request.method == "POST" and form.is_valid():
        kind = segment.kind if segment else form.cleaned_data["kind"]
        try:
            if segment is None:
                saved = segment_create(
                    name=form.cleaned_data["name"], kind=kind, filter=builder.filter()
                )
            else:
                saved = segment_update(
                    segment=segment, name=form.cleaned_data["name"], filter=builder.filter()
                )
        except FilterError as exc:
            builder.show_errors(exc)
            form.add_error(None, "Some conditions need fixing; see the message under each one.")
        except SegmentError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            if exc.field == "filter":
                builder.general_error = exc.message
        else:
            verb = "Created" if segment is None else "Saved"
            note = " It is being evaluated now." if saved.kind == Segment.Kind.ACTIVE else ""
            messages.success(request, f"{verb} the segment “{saved.name}”.{note}")
            return redirect("segments:detail", segment_id=saved.pk)
    show_builder = segment is None or segment.kind == Segment.Kind.ACTIVE
    preview = _preview(builder) if show_builder else {}
    context = _builder_context(
        request, builder, form=form, preview=preview, show_builder=show_builder, **base
    )
    return render_page(request, "segments/form.html", context, status=400 if form.errors else 200)


@capability(perms.AUDIENCE_MANAGE)
def segment_create_view(request: HttpRequest) -> HttpResponse:
    return _builder_page(request, None)


@capability(perms.AUDIENCE_MANAGE)
def segment_edit(request: HttpRequest, segment_id: int) -> HttpResponse:
    return _builder_page(request, get_object_or_404(Segment, pk=segment_id))


@capability(perms.AUDIENCE_VIEW)
@require_POST
def segment_preview(request: HttpRequest) -> HttpResponse:
    builder = Builder.from_post(request.POST)
    context = {"preview": _preview(builder), "builder": builder}
    return render(request, "segments/form.html#preview", context)


@capability(perms.AUDIENCE_VIEW)
def segment_detail(request: HttpRequest, segment_id: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=segment_id)
    members = segment_members(segment).order_by("-created_at", "-id")
    page = Paginator(members, 50).get_page(request.GET.get("page"))
    query = request.GET.get("q", "").strip()
    found: list[Customer] = []
    if query and segment.kind == Segment.Kind.STATIC:
        found = list(
            Customer.objects.filter(
                Q(name__icontains=query) | Q(email__icontains=query) | Q(source_id=query)
            ).order_by("name")[:25]
        )
    context = {
        "segment": segment,
        "page": page,
        "conditions": describe(segment.filter),
        "q": query,
        "found": found,
        "upload_form": MembersUploadForm(),
        "can_manage": has_capability(request, perms.AUDIENCE_MANAGE),
    }
    return render_page(request, "segments/detail.html", context, fragment="members")


@capability(perms.AUDIENCE_MANAGE)
@require_POST
def segment_members_view(request: HttpRequest, segment_id: int) -> HttpResponse:
    """Static members: add chosen customers, remove members, or upload a CSV."""
    segment = get_object_or_404(Segment, pk=segment_id)
    action = request.POST.get("action", "")
    detail = reverse("segments:detail", kwargs={"segment_id": segment.pk})
    try:
        if action == "add":
            ids = [int(i) for i in request.POST.getlist("customer") if i.isdigit()]
            if not ids:
                messages.warning(request, "Tick at least one customer to add.")
                return redirect(detail)
            added = segment_members_add(segment=segment, customer_ids=ids)
            messages.success(request, f"Added {added} customer(s) to “{segment.name}”.")
        elif action == "remove":
            ids = [int(i) for i in request.POST.getlist("member") if i.isdigit()]
            removed = segment_members_remove(segment=segment, customer_ids=ids)
            messages.success(request, f"Removed {removed} customer(s) from “{segment.name}”.")
        else:
            form = MembersUploadForm(request.POST, request.FILES)
            if not form.is_valid():
                return _upload_error(request, segment, form)
            result = segment_members_upload(
                segment=segment, content=form.cleaned_data["file"].read()
            )
            text = f"Added {result.added} of {result.values} customer(s) from the file."
            if result.unmatched:
                text += (
                    f" {result.unmatched} value(s) matched no customer (source id or email),"
                    f" e.g. {', '.join(result.unmatched_sample[:5])}."
                )
            messages.success(request, text)
    except SegmentError as exc:
        if action in ("add", "remove"):
            messages.error(request, exc.message)
        else:
            form = MembersUploadForm(request.POST, request.FILES)
            form.is_valid()
            form.add_error("file" if exc.field == "file" else None, exc.message)
            return _upload_error(request, segment, form)
    return redirect(detail)


def _upload_error(request: HttpRequest, segment: Segment, form: MembersUploadForm) -> HttpResponse:
    page = Paginator(segment_members(segment).order_by("-created_at", "-id"), 50).get_page(1)
    context = {
        "segment": segment,
        "page": page,
        "conditions": describe(segment.filter),
        "upload_form": form,
        "can_manage": True,
    }
    return render(request, "segments/detail.html", context, status=400)


@capability(perms.AUDIENCE_MANAGE)
@require_POST
def segment_evaluate_view(request: HttpRequest, segment_id: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=segment_id)
    if segment.kind == Segment.Kind.ACTIVE:
        enqueue("apps.customers.segments.jobs.segment_evaluate_job", segment.pk)
        messages.success(request, f"Re-evaluating “{segment.name}”; reload in a moment.")
    return redirect("segments:detail", segment_id=segment.pk)


@capability(perms.AUDIENCE_MANAGE)
@require_POST
def segment_delete_view(request: HttpRequest, segment_id: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=segment_id)
    with refusal_as_message(request, SegmentError):
        segment_delete(segment=segment)
        messages.success(request, f"Deleted the segment “{segment.name}”.")
        return redirect("segments:list")
    return redirect("segments:detail", segment_id=segment.pk)
