"""Partner pages under /p/<partner>/distributions/ (besides the wizard, in wizard_views.py):
the list with its CSV export, a distribution's page with live metrics (an HTMX fragment
polled every few seconds while it is live or paused), and the buttons that pause, resume,
duplicate or archive a launched distribution or delete a draft.

Views only parse, call a selector or one of apps.distributions.services, and pick a page or a
fragment; a refused action (resuming an archived distribution…) shows the service's sentence
and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.accounts import permissions as perms
from apps.accounts.actors import request_actor
from apps.core.csv import streamed_csv
from apps.core.htmx import render_page
from apps.core.permissions import View, capability, has_capability
from apps.core.refusals import refusal_as_message
from apps.distributions import selectors, services
from apps.distributions.models import Distribution

PAGE_SIZE = 25
EXPORT_CHUNK = 500
# How often the metrics fragment asks for fresh numbers while a distribution is running.
POLL_SECONDS = 3


def _chosen_count(distribution: Distribution) -> int | None:
    """Annotated by selectors.distribution_list."""
    return getattr(distribution, "chosen_count", None)


# --- List and export -----------------------------------------------------------------------


@capability(perms.DISTRIBUTIONS_VIEW)
@require_GET
def distribution_list_view(request: HttpRequest) -> HttpResponse:
    filters = selectors.ListFilters.from_query(request.GET)
    page = Paginator(selectors.distribution_list(filters=filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    counts = selectors.distribution_counts(distribution_ids=[d.pk for d in page.object_list])
    rows = [
        {
            "distribution": d,
            "status": selectors.status_label(d),
            "badge": selectors.status_badge(d),
            "channels": selectors.channels_label(d.channels),
            "audience": selectors.audience_label(d, _chosen_count(d)),
            "counts": counts[d.pk],
            "step": selectors.wizard_step(d),
        }
        for d in page.object_list
    ]
    query = filters.query_string()
    context = {
        "page": page,
        "rows": rows,
        "filters": filters,
        "filter_query": query,
        # components/pagination.html adds q itself; the other filters ride in extra_query.
        "q": filters.q,
        "extra_query": "".join(
            f"{name}={value}&"
            for name, value in (("status", filters.status), ("type", filters.kind))
            if value
        ),
        "statuses": Distribution.Status.choices,
        "kinds": Distribution.Kind.choices,
        "can_manage": has_capability(request, perms.DISTRIBUTIONS_MANAGE),
    }
    return render_page(request, "distributions/list.html", context, fragment="table")


EXPORT_COLUMNS = [
    "id",
    "name",
    "type",
    "status",
    "channels",
    "campaign",
    "audience",
    "audience_size",
    "messages_sent",
    "codes_redeemed",
    "created_at",
    "launched_at",
    "completed_at",
]


def _export_rows(filters: selectors.ListFilters) -> Iterator[list[object]]:
    """The rows of the CSV; counts are fetched per chunk of distributions, grouped."""
    distributions = list(selectors.distribution_list(filters=filters))
    for start in range(0, len(distributions), EXPORT_CHUNK):
        chunk = distributions[start : start + EXPORT_CHUNK]
        counts = selectors.distribution_counts(distribution_ids=[d.pk for d in chunk])
        for d in chunk:
            yield [
                d.pk,
                d.name,
                d.get_kind_display(),
                selectors.status_label(d),
                " ".join(d.channels),
                d.campaign.name if d.campaign else "",
                selectors.audience_label(d, _chosen_count(d)),
                d.audience_size,
                counts[d.pk].sent,
                counts[d.pk].redeemed,
                d.created_at,
                d.launched_at,
                d.completed_at,
            ]


@capability(perms.DISTRIBUTIONS_VIEW)
@require_GET
def distribution_export(request: HttpRequest) -> HttpResponse:
    """The list, with its filters, as CSV (streamed in the partner's schema)."""
    filters = selectors.ListFilters.from_query(request.GET)
    # A streaming response is no HttpResponse subclass, but @capability only passes it on.
    return streamed_csv(  # type: ignore[return-value]
        filename=f"distributions-{timezone.localdate():%Y-%m-%d}.csv",
        header=EXPORT_COLUMNS,
        rows=lambda: _export_rows(filters),
    )


# --- Detail and metrics --------------------------------------------------------------------


def _metrics_or_404(distribution_id: int) -> selectors.DistributionMetrics:
    try:
        return selectors.distribution_metrics(distribution_id=distribution_id)
    except Distribution.DoesNotExist:
        raise Http404("No such distribution.") from None


def _metrics_context(metrics: selectors.DistributionMetrics) -> dict[str, object]:
    d = metrics.distribution
    return {
        "distribution": d,
        "m": metrics,
        "status_text": selectors.status_label(d),
        "status_badge": selectors.status_badge(d),
        "poll_seconds": POLL_SECONDS,
    }


@capability(perms.DISTRIBUTIONS_VIEW)
@require_GET
def distribution_detail(request: HttpRequest, distribution_id: int) -> HttpResponse:
    metrics = _metrics_or_404(distribution_id)
    d = metrics.distribution
    context = {
        **_metrics_context(metrics),
        "channels_text": selectors.channels_label(d.channels),
        "audience_text": selectors.audience_label(
            d, d.chosen.count() if d.audience == Distribution.Audience.CUSTOMERS else None
        ),
        "step": selectors.wizard_step(d),
        "can_manage": has_capability(request, perms.DISTRIBUTIONS_MANAGE),
    }
    return render(request, "distributions/detail.html", context)


@capability(perms.DISTRIBUTIONS_VIEW)
@require_GET
def distribution_metrics_view(request: HttpRequest, distribution_id: int) -> HttpResponse:
    """The polled fragment. When the status changed since the page was drawn (paused because
    the pool ran out, completed…) the whole page reloads, so its buttons match the status."""
    metrics = _metrics_or_404(distribution_id)
    shown = request.GET.get("status", "")
    response = render(request, "distributions/_metrics.html", _metrics_context(metrics))
    if getattr(request, "htmx", False) and shown and shown != metrics.distribution.status:
        response["HX-Refresh"] = "true"
    return response


# --- Actions -------------------------------------------------------------------------------


def _action_view(action: Callable[..., object], done: str) -> View:
    """A button on a distribution's page that calls one service (pause, resume, archive) and
    comes back to the page, with `done` (its `{name}` filled in) or the service's refusal."""

    @capability(perms.DISTRIBUTIONS_MANAGE)
    @require_POST
    def view(request: HttpRequest, distribution_id: int) -> HttpResponse:
        distribution = get_object_or_404(Distribution, pk=distribution_id)
        with refusal_as_message(request):
            action(distribution=distribution, actor=request_actor(request))
            messages.success(request, done.format(name=distribution.name))
        return redirect("distributions:detail", distribution_id=distribution.pk)

    # Named after its service, so tracebacks and the URL resolver tell the three apart.
    view.__name__ = view.__qualname__ = f"{getattr(action, '__name__', 'action')}_view"
    return view


distribution_pause_view = _action_view(
    services.distribution_pause,
    "Paused “{name}”: nothing more is published or sent until you resume it.",
)
distribution_resume_view = _action_view(services.distribution_resume, "Resumed “{name}”.")
distribution_archive_view = _action_view(
    services.distribution_archive,
    "Archived “{name}”: it sends nothing more; its numbers stay here.",
)


@capability(perms.DISTRIBUTIONS_MANAGE)
@require_POST
def distribution_duplicate_view(request: HttpRequest, distribution_id: int) -> HttpResponse:
    distribution = get_object_or_404(Distribution, pk=distribution_id)
    with refusal_as_message(request):
        copy = services.distribution_duplicate(
            distribution=distribution, actor=request_actor(request)
        )
        messages.success(request, f"Created the draft “{copy.name}”; check each step, then launch.")
        step = selectors.wizard_step(copy)
        return redirect(
            reverse("distributions:wizard", kwargs={"distribution_id": copy.pk, "step": step})
        )
    return redirect("distributions:detail", distribution_id=distribution.pk)


@capability(perms.DISTRIBUTIONS_MANAGE)
@require_POST
def distribution_delete_view(request: HttpRequest, distribution_id: int) -> HttpResponse:
    """Only a draft can be deleted: a launched distribution keeps its history (archive it)."""
    distribution = get_object_or_404(Distribution, pk=distribution_id)
    with refusal_as_message(request):
        _draft_delete(distribution=distribution)
        messages.success(request, f"Deleted the draft “{distribution.name}”.")
        return redirect("distributions:list")
    return redirect("distributions:detail", distribution_id=distribution.pk)


@transaction.atomic
def _draft_delete(*, distribution: Distribution) -> None:
    """Delete `distribution` if it is still a draft (a conditional DELETE: a draft launched
    in another tab meanwhile is kept). The service contract has no draft deletion, hence
    this small write here; it belongs in services.py when that module grows one."""
    deleted, _ = Distribution.objects.filter(
        pk=distribution.pk, status=Distribution.Status.DRAFT
    ).delete()
    if not deleted:
        raise services.DistributionError(
            f"“{distribution.name}” has been launched, so it cannot be deleted; archive it to "
            "put it away (its numbers stay).",
            key="distribution_not_draft",
        )
