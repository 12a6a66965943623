"""Wizard steps 6 (the audience: a segment, chosen customers, or a customer event, with its
size now) and 7 (the campaign, with the codes left against the audience), and their fragments.

Step 6 can also create an active segment inline, with the segments app's filter builder
(apps.customers.segments.forms.Builder and segments.segment_create): its rows post under the
builder's own names (match, field, key, op, value, days) inside the step's form, and its
buttons use "seg-…" actions so they never collide with the step's own.
"""

from __future__ import annotations

from typing import Any

from django.db import OperationalError, connection, transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.accounts import permissions as perms
from apps.campaigns.models import Campaign
from apps.campaigns.selectors import pool_status, publishable_campaigns
from apps.core.refusals import refusal_on_form
from apps.customers.models import Customer, Segment
from apps.customers.segments.filters import FilterError, segment_count
from apps.customers.segments.forms import FIELD_GROUPS, Builder, campaign_choices
from apps.customers.segments.services import SegmentError, segment_create
from apps.distributions.models import Distribution
from apps.distributions.wizard import drafts
from apps.distributions.wizard.base import TEMPLATE_DIR, advance, draft_view, page
from apps.distributions.wizard.drafts import DraftError
from apps.distributions.wizard.forms import AudienceForm, CampaignForm

SEARCH_LIMIT = 20
CHOSEN_SHOWN = 100
# The inline builder counts on every keystroke (debounced): a pathological filter must not tie
# up a connection for long (the same limit as the segments page's preview).
COUNT_TIMEOUT_MS = 5000


# --- Step 6: audience ------------------------------------------------------------------------


def _customer_search(d: Distribution, query: str) -> list[Customer]:
    if not query:
        return []
    chosen = d.chosen.values("customer_id")
    return list(
        Customer.objects.filter(
            Q(name__icontains=query)
            | Q(email__icontains=query)
            | Q(phone__icontains=query)
            | Q(source_id=query)
        )
        .exclude(pk__in=chosen)
        .order_by("name", "id")[:SEARCH_LIMIT]
    )


def _can_create_segments(request: HttpRequest) -> bool:
    return perms.AUDIENCE_MANAGE in getattr(request, "capabilities", frozenset())


def _builder_count(builder: Builder) -> dict[str, Any]:
    """How many customers the inline builder's conditions match now, or what to fix."""
    if not any(row.field for row in builder.rows):
        return {"empty": True}
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout = %s", [COUNT_TIMEOUT_MS])
            return {"count": segment_count(builder.filter())}
    except FilterError as exc:
        return {"problems": [message for _, _, message in exc.errors]}
    except OperationalError:
        return {"timeout": True}


def _audience_context(
    request: HttpRequest,
    d: Distribution,
    form: AudienceForm,
    query: str = "",
    *,
    builder: Builder | None = None,
    segment_error: str = "",
) -> dict[str, Any]:
    audience = form["audience"].value() or ""
    segment_id = form["segment"].value()
    segment = Segment.objects.filter(pk=segment_id).first() if str(segment_id).isdigit() else None
    chosen = Customer.objects.filter(pk__in=d.chosen.values("customer_id")).order_by("name", "id")
    return {
        "form": form,
        "audience": audience,
        "size": drafts.audience_now(distribution=d, audience=audience, segment=segment),
        "chosen": chosen[:CHOSEN_SHOWN],
        "chosen_count": d.chosen.count(),
        "q": query,
        "found": _customer_search(d, query),
        "automatic": d.kind == Distribution.Kind.AUTOMATIC,
        "segments_exist": Segment.objects.exists(),
        "can_create_segments": _can_create_segments(request),
        "builder": builder or Builder.from_filter(None),
        "builder_open": builder is not None,
        "builder_count": _builder_count(builder) if builder else {"empty": True},
        "field_groups": FIELD_GROUPS,
        "campaigns": campaign_choices(),
        "segment_error": segment_error,
        "new_segment_name": request.POST.get("new_segment_name", "") if builder else "",
    }


def _posted_values(request: HttpRequest) -> dict[str, Any]:
    return {
        "audience": request.POST.get("audience", ""),
        "segment": request.POST.get("segment") or None,
        "trigger_event": request.POST.get("trigger_event", ""),
        "include_current_members": bool(request.POST.get("include_current_members")),
    }


def _segment_builder(request: HttpRequest, d: Distribution, action: str) -> HttpResponse:
    """The inline builder's buttons: add / remove a condition, refresh the operators, count,
    and create the segment (then it is chosen for this distribution)."""
    if not _can_create_segments(request):
        return HttpResponse("Your role cannot create segments.", status=403)
    builder = Builder.from_post(request.POST)
    form = AudienceForm(initial=_posted_values(request), distribution=d)
    query = request.POST.get("q", "").strip()
    if action == "seg-add":
        builder.add_row()
    elif action.startswith("seg-remove-") and action[11:].isdigit():
        builder.remove_row(int(action[11:]))
    elif action == "seg-count":
        context: dict[str, Any] = {"builder_count": _builder_count(builder)}
        return page(request, d, 6, context, fragment="segment_count")
    elif action == "seg-create":
        name = request.POST.get("new_segment_name", "")
        try:
            segment = segment_create(name=name, kind=Segment.Kind.ACTIVE, filter=builder.filter())
        except FilterError as exc:
            builder.show_errors(exc)
            error = "Some conditions need fixing; see the message under each one."
        except SegmentError as exc:
            error = exc.message
        else:
            values = {**_posted_values(request), "audience": "segment", "segment": segment.pk}
            form = AudienceForm(initial=values, distribution=d)
            context = _audience_context(request, d, form, query)
            context["segment_created"] = segment
            response = page(request, d, 6, context, fragment="audience")
            # The button sits in the builder; the answer replaces the whole audience section.
            response["HX-Retarget"] = "#audience-section"
            response["HX-Reswap"] = "outerHTML"
            return response
        context = _audience_context(request, d, form, query, builder=builder, segment_error=error)
        return page(request, d, 6, context, fragment="segment_builder")
    context = _audience_context(request, d, form, query, builder=builder)
    return page(request, d, 6, context, fragment="segment_builder")


def step_audience(request: HttpRequest, d: Distribution) -> HttpResponse:
    initial = {
        # A segment is the usual choice: its options show at once.
        "audience": d.audience or Distribution.Audience.SEGMENT,
        "segment": d.segment_id,
        "trigger_event": d.trigger_event,
        "include_current_members": d.include_current_members,
    }
    if request.method != "POST":
        query = request.GET.get("q", "").strip()
        form = AudienceForm(initial=initial, distribution=d)
        fragment = "picker" if "q" in request.GET else None
        return page(request, d, 6, _audience_context(request, d, form, query), fragment=fragment)

    action = request.POST.get("action", "next")
    query = request.POST.get("q", "").strip()
    if action.startswith("seg-"):
        return _segment_builder(request, d, action)
    picker_action = action.startswith(("pick-", "unpick-")) and action.split("-", 1)[1].isdigit()
    if picker_action or action in ("search", "refresh"):
        try:
            if action.startswith("pick-"):
                drafts.draft_customers_add(distribution=d, customer_ids=[int(action[5:])])
            elif action.startswith("unpick-"):
                drafts.draft_customers_remove(distribution=d, customer_ids=[int(action[7:])])
        except DraftError as exc:
            if exc.key == "not_a_draft":
                raise
            return HttpResponse(exc.message, status=400)
        # Re-render what was chosen so far (unbound: no errors for a half-made choice).
        form = AudienceForm(initial=_posted_values(request), distribution=d)
        fragment = "audience" if action == "refresh" else "picker"
        return page(request, d, 6, _audience_context(request, d, form, query), fragment=fragment)

    form = AudienceForm(request.POST, distribution=d)
    if form.is_valid():
        data = form.cleaned_data
        try:
            drafts.draft_set_audience(
                distribution=d,
                audience=data["audience"],
                segment=data.get("segment"),
                trigger_event=data.get("trigger_event") or "",
                include_current_members=bool(data.get("include_current_members")),
            )
        except DraftError as exc:
            form.add_error(None, exc.message)
        else:
            return advance(request, d, 6)
    return page(request, d, 6, _audience_context(request, d, form, query), errors=True)


@draft_view("GET")
def wizard_audience_count(request: HttpRequest, distribution: Distribution) -> HttpResponse:
    """The audience size for the choice on step 6, before it is saved."""
    audience = request.GET.get("audience", "")
    segment_id = request.GET.get("segment", "")
    segment = Segment.objects.filter(pk=segment_id).first() if segment_id.isdigit() else None
    size = drafts.audience_now(distribution=distribution, audience=audience, segment=segment)
    return render(request, f"{TEMPLATE_DIR}/_audience_size.html", {"size": size})


# --- Step 7: campaign ------------------------------------------------------------------------


def _pool_context(d: Distribution, campaign: Campaign | None) -> dict[str, Any]:
    size = drafts.saved_audience_size(d)
    if campaign is None:
        return {"pool_campaign": None, "size": size}
    pool = pool_status(campaign)
    return {
        "pool_campaign": campaign,
        "pool": pool,
        "size": size,
        "short": (not size.per_event) and pool.left < size.total,
        "missing": max(size.total - pool.left, 0),
    }


def step_campaign(request: HttpRequest, d: Distribution) -> HttpResponse:
    form = CampaignForm(request.POST or None, initial={"campaign": d.campaign_id})
    if request.method == "POST" and form.is_valid():
        with refusal_on_form(form, DraftError, field="campaign"):
            drafts.draft_set_campaign(distribution=d, campaign=form.cleaned_data["campaign"])
            return advance(request, d, 7)
    chosen = None
    if request.method == "POST" and form.is_valid():
        chosen = form.cleaned_data["campaign"]
    elif d.campaign_id:
        chosen = publishable_campaigns().filter(pk=d.campaign_id).first()
    context = {"form": form, **_pool_context(d, chosen)}
    return page(request, d, 7, context, errors=bool(form.errors))


@draft_view("GET")
def wizard_pool(request: HttpRequest, distribution: Distribution) -> HttpResponse:
    """Codes left in the campaign chosen on step 7, against the audience size."""
    campaign_id = request.GET.get("campaign", "")
    campaign = (
        publishable_campaigns().filter(pk=campaign_id).first() if campaign_id.isdigit() else None
    )
    return render(request, f"{TEMPLATE_DIR}/_pool.html", _pool_context(distribution, campaign))
