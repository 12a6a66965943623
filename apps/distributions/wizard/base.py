"""What every page of the distribution wizard shares: loading the draft (a launched one is
sent to its page), gating a step on the earlier ones, the step indicator, rendering a step and
moving on after it is saved. The steps themselves are in wizard_views.py (1-3, review, launch),
wizard_messages.py (4-5) and wizard_audience.py (6-7)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from apps.accounts import permissions as perms
from apps.core.htmx import render_page
from apps.core.permissions import View, capability
from apps.distributions.completeness import (
    CHANNEL_LABELS,
    LAST_STEP,
    STEP_TITLES,
    STEPS,
    first_incomplete,
    step_problems,
)
from apps.distributions.models import Distribution

MANAGE = perms.DISTRIBUTIONS_MANAGE
TEMPLATE_DIR = "distributions/wizard"


# --- Shared ----------------------------------------------------------------------------------


def step_url(distribution: Distribution, step: int, *, from_review: bool = False) -> str:
    url = reverse("distributions:wizard", kwargs={"distribution_id": distribution.pk, "step": step})
    return url + ("?from=review" if from_review else "")


def review_url(distribution: Distribution) -> str:
    return reverse("distributions:review", kwargs={"distribution_id": distribution.pk})


def detail_url(distribution: Distribution) -> str:
    return reverse("distributions:detail", kwargs={"distribution_id": distribution.pk})


def to_detail(request: HttpRequest, distribution: Distribution, message: str) -> HttpResponse:
    """Send the browser to the distribution's page with `message`; an htmx fragment request is
    told to navigate (HX-Redirect), or it would swap a whole page into a part of this one."""
    messages.info(request, message)
    url = detail_url(distribution)
    if getattr(request, "htmx", None):
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    return redirect(url)


def draft_or_redirect(
    request: HttpRequest, distribution_id: int
) -> tuple[Distribution, HttpResponse | None]:
    """The draft and None, or the distribution and a redirect to its page when it is no longer
    a draft (callers return that refusal first)."""
    distribution = get_object_or_404(
        Distribution.objects.select_related("segment", "campaign"), pk=distribution_id
    )
    if not distribution.is_draft:
        message = (
            f"“{distribution.name}” is {distribution.get_status_display().lower()} and can no "
            "longer be edited. You can pause, resume, duplicate or archive it here."
        )
        return distribution, to_detail(request, distribution, message)
    return distribution, None


def draft_view(
    method: str,
) -> Callable[[Callable[[HttpRequest, Distribution], HttpResponse]], View]:
    """A wizard page or fragment of one draft, by its id in the URL, answering only `method`:
    the wizard's capability is checked first, and a distribution launched meanwhile is sent to
    its page, so the view only ever gets a draft."""

    def decorator(view: Callable[[HttpRequest, Distribution], HttpResponse]) -> View:
        @capability(MANAGE)
        @require_http_methods([method])
        @wraps(view)
        def wrapped(request: HttpRequest, distribution_id: int) -> HttpResponse:
            distribution, refusal = draft_or_redirect(request, distribution_id)
            if refusal:
                return refusal
            return view(request, distribution)

        return wrapped

    return decorator


def gate(request: HttpRequest, distribution: Distribution, step: int) -> HttpResponse | None:
    """Redirect to the first incomplete step before `step`, saying what is missing."""
    blocked = first_incomplete(distribution, before=step)
    if blocked is None:
        return None
    problems = step_problems(distribution, upto=blocked).get(blocked, [])
    detail = f" {problems[0]}" if problems and "not done yet" not in problems[0] else ""
    messages.warning(
        request,
        f"Finish step {blocked} ({STEP_TITLES[blocked]}) before step {step} "
        f"({STEP_TITLES[step]}).{detail}",
    )
    url = step_url(distribution, blocked)
    if getattr(request, "htmx", None):
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    return redirect(url)


def indicator(distribution: Distribution | None, current: int) -> list[dict[str, Any]]:
    # A new distribution (no draft yet) has every step to do.
    problems = step_problems(distribution) if distribution else dict.fromkeys(STEP_TITLES, [])
    items = []
    for number, title in STEPS:
        done = number not in problems
        items.append(
            {
                "number": number,
                "title": title,
                "done": done,
                "current": number == current,
                # A completed step is a link; so is the current one's own page.
                "url": step_url(distribution, number) if distribution and done else "",
            }
        )
    return items


def page(
    request: HttpRequest,
    distribution: Distribution | None,
    step: int,
    context: dict[str, Any],
    *,
    fragment: str | None = None,
    errors: bool = False,
) -> HttpResponse:
    from_review = request.GET.get("from") == "review" or request.POST.get("return") == "review"
    base = {
        "distribution": distribution,
        "step": step,
        "step_title": STEP_TITLES[step],
        "steps": indicator(distribution, step),
        "last_step": LAST_STEP,
        "from_review": from_review,
        "form_url": (
            step_url(distribution, step) if distribution else reverse("distributions:new")
        ),
        "channel_labels": CHANNEL_LABELS,
        "has_errors": errors,
    }
    return render_page(
        request,
        f"{TEMPLATE_DIR}/step{step}.html",
        {**base, **context},
        fragment=fragment,
        status=400 if errors else 200,
    )


def advance(request: HttpRequest, distribution: Distribution, step: int) -> HttpResponse:
    """After a step is saved: Back goes to the previous step, Next to the following one (or
    back to the review page when the step was opened from there and everything is done)."""
    if request.POST.get("action") == "back":
        return redirect(step_url(distribution, max(step - 1, 1)))
    if request.POST.get("return") == "review" or step == LAST_STEP:
        blocked = first_incomplete(distribution)
        if blocked is None:
            return redirect(review_url(distribution))
        if blocked != step:
            messages.warning(
                request,
                f"Saved. Step {blocked} ({STEP_TITLES[blocked]}) needs attention now.",
            )
            return redirect(step_url(distribution, blocked))
    return redirect(step_url(distribution, min(step + 1, LAST_STEP)))
