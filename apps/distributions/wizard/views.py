"""The seven-step distribution wizard (partner portal): Type, Name, Channels, Message,
Reminders, Audience, Campaign; then the review page with Launch (manual) or Activate
(automatic).

One draft Distribution row is saved at every step (apps.distributions.wizard.drafts). Each step is a
plain form that works without JavaScript: Next and Back are submit buttons that save the step
and move on (post / redirect / get). htmx makes the parts of a step live without a page load:
the channel cards' plus and cross, the email preview for a sample customer, adding and removing
reminders, the audience size, the customer picker and the pool check. Those fragments are
rendered from the step's own template (`{% partialdef %}`) and check the same capability.

Gating is on the server: opening or posting a step while an earlier one is incomplete
redirects to that earlier step with a message; a launched distribution is never edited here,
every wizard URL sends it to its page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.actors import request_actor
from apps.campaigns.selectors import pool_status
from apps.core.permissions import capability
from apps.core.refusals import refusal_on_form
from apps.distributions import services
from apps.distributions.completeness import (
    CHANNEL_LABELS,
    STEP_TITLES,
    first_incomplete,
    step_problems,
)
from apps.distributions.models import CHANNELS, TRIGGER_EVENTS, Distribution
from apps.distributions.wizard import drafts
from apps.distributions.wizard.audience import step_audience, step_campaign
from apps.distributions.wizard.base import (
    MANAGE,
    TEMPLATE_DIR,
    advance,
    detail_url,
    draft_or_redirect,
    draft_view,
    gate,
    indicator,
    page,
    review_url,
    step_url,
    to_detail,
)
from apps.distributions.wizard.drafts import DraftError
from apps.distributions.wizard.forms import KIND_HELP, KindForm, NameForm
from apps.distributions.wizard.messages import step_message, step_reminders
from apps.messaging.sanitize import html_to_text

# --- Step 1: type ----------------------------------------------------------------------------


def _kind_context(form: KindForm) -> dict[str, Any]:
    kinds = [(value, label, KIND_HELP[value]) for value, label in Distribution.Kind.choices]
    return {"form": form, "kinds": kinds}


@capability(MANAGE)
def wizard_new(request: HttpRequest) -> HttpResponse:
    """Step 1 of a new distribution: the draft is created when the type is posted."""
    form = KindForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        distribution = drafts.draft_create(
            kind=form.cleaned_data["kind"], actor_id=getattr(request.user, "pk", None)
        )
        messages.success(request, "Draft started; it is saved at every step.")
        return redirect(step_url(distribution, 2))
    return page(request, None, 1, _kind_context(form), errors=bool(form.errors))


def _step_kind(request: HttpRequest, d: Distribution) -> HttpResponse:
    form = KindForm(request.POST or None, initial={"kind": d.kind})
    if request.method == "POST" and form.is_valid():
        drafts.draft_set_kind(distribution=d, kind=form.cleaned_data["kind"])
        return advance(request, d, 1)
    return page(request, d, 1, _kind_context(form), errors=bool(form.errors))


# --- Step 2: name ----------------------------------------------------------------------------


def _step_name(request: HttpRequest, d: Distribution) -> HttpResponse:
    # Until step 2 is saved the name is a placeholder; the field starts empty.
    initial = {"name": d.name} if d.step >= 2 else {}
    form = NameForm(request.POST or None, initial=initial, distribution=d)
    if request.method == "POST" and form.is_valid():
        with refusal_on_form(form, DraftError, field="name"):
            drafts.draft_set_name(distribution=d, name=form.cleaned_data["name"])
            return advance(request, d, 2)
    return page(request, d, 2, {"form": form}, errors=bool(form.errors))


# --- Step 3: channels ------------------------------------------------------------------------


def _channel_cards(d: Distribution) -> list[dict[str, Any]]:
    accounts = drafts.channel_accounts()
    descriptions = {
        "email": "A message with your subject and text, through your SMTP server.",
        "sms": "A text message through your Twilio account.",
        "mailchimp": "The code goes into a merge field of the customer in your MailChimp "
        "audience, for your MailChimp emails.",
        "intercom": "The code goes into a contact attribute in Intercom, optionally with a "
        "message.",
    }
    return [
        {
            "channel": channel,
            "label": CHANNEL_LABELS[channel],
            "description": descriptions[channel],
            "active": channel in d.channels,
            "sandbox": channel not in accounts,
        }
        for channel in CHANNELS
    ]


def _step_channels(request: HttpRequest, d: Distribution) -> HttpResponse:
    error = ""
    if request.method == "POST":
        action = request.POST.get("action", "next")
        if action.startswith(("add-", "remove-")):
            verb, _, channel = action.partition("-")
            try:
                drafts.draft_toggle_channel(distribution=d, channel=channel, on=verb == "add")
            except DraftError as exc:
                if exc.key == "not_a_draft":
                    raise
                return HttpResponse(exc.message, status=400)
            if getattr(request, "htmx", None):
                context = {"cards": _channel_cards(d)}
                return page(request, d, 3, context, fragment="cards")
            return redirect(step_url(d, 3, from_review=request.POST.get("return") == "review"))
        if action == "back" and not d.channels:
            return redirect(step_url(d, 2))
        try:
            drafts.draft_confirm_channels(distribution=d)
        except DraftError as exc:
            error = exc.message
        else:
            return advance(request, d, 3)
    return page(request, d, 3, {"cards": _channel_cards(d), "error": error}, errors=bool(error))


# --- The step view ---------------------------------------------------------------------------

STEP_VIEWS = {
    1: _step_kind,
    2: _step_name,
    3: _step_channels,
    4: step_message,
    5: step_reminders,
    6: step_audience,
    7: step_campaign,
}


@capability(MANAGE)
def wizard_step(request: HttpRequest, distribution_id: int, step: int) -> HttpResponse:
    if step not in STEP_VIEWS:
        raise Http404("The wizard has seven steps.")
    distribution, refusal = draft_or_redirect(request, distribution_id)
    if refusal:
        return refusal
    gated = gate(request, distribution, step)
    if gated:
        return gated
    try:
        return STEP_VIEWS[step](request, distribution)
    except DraftError as exc:
        if exc.key != "not_a_draft":
            raise
        # Launched from another tab while this step was open.
        return to_detail(request, distribution, exc.message)


# --- Review and launch -----------------------------------------------------------------------


def _review_context(d: Distribution) -> dict[str, Any]:
    missing = services.distribution_check_complete(d)
    by_step: dict[int, list[str]] = {}
    for number, problem in missing:
        by_step.setdefault(number, []).append(problem)
    # The wizard's own view of completeness: a step never saved is missing too.
    for number, problems in step_problems(d).items():
        by_step.setdefault(number, problems)
    size = drafts.saved_audience_size(d)
    pool = pool_status(d.campaign) if d.campaign else None
    accounts = drafts.channel_accounts()
    return {
        "distribution": d,
        "problems": by_step,
        "ready": not by_step,
        "size": size,
        "pool": pool,
        "short": bool(pool and not size.per_event and pool.left < size.total),
        "channels": [
            {
                "channel": c,
                "label": CHANNEL_LABELS[c],
                "sandbox": c not in accounts,
                "content": d.content.get(c) or {},
                "excerpt": html_to_text(str((d.content.get(c) or {}).get("html", ""))),
                "sms_count": drafts.sms_count(str((d.content.get(c) or {}).get("text", "")))
                if c == "sms"
                else None,
            }
            for c in d.channels
        ],
        "reminders": d.reminders,
        "trigger_label": TRIGGER_EVENTS.get(d.trigger_event, ""),
        "chosen_count": d.chosen.count(),
        "steps": indicator(d, 0),
        "kind_help": KIND_HELP,
        "channel_labels": CHANNEL_LABELS,
    }


@draft_view("GET")
def wizard_review(request: HttpRequest, distribution: Distribution) -> HttpResponse:
    return render(request, f"{TEMPLATE_DIR}/review.html", _review_context(distribution))


@capability(MANAGE)
@require_POST
def wizard_launch(request: HttpRequest, distribution_id: int) -> HttpResponse:
    """Launch (manual) or activate (automatic). A second click finds the distribution live
    and only shows its page: the service's conditional update launches once."""
    distribution = get_object_or_404(Distribution, pk=distribution_id)
    if not distribution.is_draft:
        messages.info(request, f"“{distribution.name}” is already {distribution.status}.")
        return redirect(detail_url(distribution))
    blocked = first_incomplete(distribution)
    if blocked is not None:
        messages.error(
            request,
            f"Not launched: step {blocked} ({STEP_TITLES[blocked]}) is not complete yet.",
        )
        return redirect(step_url(distribution, blocked))
    automatic = distribution.kind == Distribution.Kind.AUTOMATIC
    service = services.distribution_activate if automatic else services.distribution_launch
    try:
        launched = service(distribution=distribution, actor=request_actor(request))
    except services.DistributionError as exc:
        messages.error(request, exc.message)
        return redirect(review_url(distribution))
    if automatic:
        messages.success(request, f"“{launched.name}” is active: it sends on every trigger.")
    else:
        size = launched.audience_size or 0
        messages.success(
            request, f"“{launched.name}” is launched: {size:,} customers get a code now."
        )
    return redirect(detail_url(launched))
