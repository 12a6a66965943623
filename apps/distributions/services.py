"""Distribution services (partner schema): launch or activate a complete draft, pause, resume,
archive, delete, duplicate.

State changes are conditional UPDATEs (`… WHERE status = 'draft'`), so a double-click or two
staff members acting at once change the row once and enqueue the pipeline once. Whether a draft
is complete is apps.distributions.completeness (the wizard's own rules); the pipeline itself
(audience, fan-out, automatic consumption, reminders, activity) is apps.distributions.pipeline,
which this module starts after the transaction commits and which never calls back here.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from apps.accounts.actors import Actor
from apps.core.errors import DomainError
from apps.customers.models import Event
from apps.customers.segments.services import segment_evaluate
from apps.distributions.completeness import STEP_TITLES, campaign_problem, draft_problems
from apps.distributions.models import TRIGGER_EVENTS, Distribution, DistributionCustomer
from apps.distributions.pipeline.activity import (
    ACTIVATED,
    PAUSED_BY_USER,
    PAUSED_CAMPAIGN,
    PAUSED_POOL_EMPTY,
    activity_log,
)
from apps.distributions.pipeline.activity import actor_label as _who
from apps.distributions.pipeline.audience import audience_size, free_codes
from apps.distributions.pipeline.fanout import PIPELINE_KEYS, templates_ensure
from apps.distributions.pipeline.queue import enqueue_consume, enqueue_fanout

Status = Distribution.Status
Kind = Distribution.Kind
Audience = Distribution.Audience


class DistributionError(DomainError):
    """A distribution change that cannot be made, with a sentence saying what to do."""

    key = "invalid_distribution"


def distribution_check_complete(distribution: Distribution) -> list[tuple[int, str]]:
    """The steps still missing something, as (step number, problem), in step order. Empty
    means the draft can be launched (manual) or activated (automatic)."""
    return draft_problems(distribution)


def _require_complete(distribution: Distribution, verb: str) -> None:
    missing = draft_problems(distribution)
    if missing:
        step, problem = missing[0]
        raise DistributionError(
            f"This draft cannot be {verb} yet: step {step} ({STEP_TITLES[step]}) — {problem}",
            key="distribution_incomplete",
            details="\n".join(f"Step {s} ({STEP_TITLES[s]}): {p}" for s, p in missing),
        )


# --- Launch, activate ------------------------------------------------------------------------


def _go_live(distribution: Distribution, *, kind: str, size: int) -> bool:
    """draft → live, once. False when someone else already did it (a double click)."""
    now = timezone.now()
    changed = Distribution.objects.filter(
        pk=distribution.pk, status=Status.DRAFT, kind=kind
    ).update(
        status=Status.LIVE,
        pause_reason="",
        step=7,
        launched_at=now,
        audience_size=size,
        updated_at=now,
    )
    distribution.refresh_from_db()
    return bool(changed)


def _not_a_draft(distribution: Distribution, verb: str) -> DistributionError:
    return DistributionError(
        f"“{distribution.name}” is {distribution.get_status_display().lower()}, so it cannot "
        f"be {verb}. Duplicate it to send it to new customers.",
        key="distribution_not_draft",
    )


def _evaluate_if_never(distribution: Distribution) -> None:
    """An active segment created inline in the wizard may not have been evaluated yet: its
    membership table is empty until then, and the fan-out would find nobody."""
    segment = distribution.segment
    if segment is not None and segment.kind == "active" and segment.evaluated_at is None:
        segment_evaluate(segment=segment)


def _start(distribution: Distribution, verb: str, *, count_audience: bool) -> int | None:
    """What launching and activating share: a complete draft (its inline segment evaluated, so
    the audience is not empty by accident) goes live once and gets its message templates.
    Returns the audience size stored on it (0 unless `count_audience`), or None when it had
    already gone live (a double click: the first call did the rest). The caller checked the
    kind."""
    if distribution.status != Status.DRAFT:
        distribution.refresh_from_db()
        if distribution.launched_at:
            return None
        raise _not_a_draft(distribution, verb)
    _require_complete(distribution, verb)
    _evaluate_if_never(distribution)
    size = audience_size(distribution) if count_audience else 0
    if not _go_live(distribution, kind=distribution.kind, size=size):
        if distribution.launched_at:  # the other click won
            return None
        raise _not_a_draft(distribution, verb)
    templates_ensure(distribution)
    return size


@transaction.atomic
def distribution_launch(*, distribution: Distribution, actor: Actor) -> Distribution:
    """Launch a manual draft: it goes live and the fan-out job (publish a code and queue the
    messages for every customer of the audience) starts after commit. Launching twice
    launches once: the second call returns the live distribution."""
    if distribution.kind != Kind.MANUAL:
        raise DistributionError(
            "An automatic distribution is activated, not launched.", key="wrong_kind"
        )
    size = _start(distribution, "launched", count_audience=True)
    if size is None:  # launched before: that launch enqueued the fan-out
        return distribution
    activity_log(
        distribution,
        "launched",
        f"Launched by {_who(actor)} to {size:,} customers.",
        audience_size=size,
    )
    enqueue_fanout(distribution.pk)
    return distribution


@transaction.atomic
def distribution_activate(*, distribution: Distribution, actor: Actor) -> Distribution:
    """Activate an automatic draft: from now on each customer who meets the trigger gets a
    code and the messages, once. With `include_current_members`, the segment's current
    members are served right away too (a fan-out; the distribution stays live)."""
    if distribution.kind != Kind.AUTOMATIC:
        raise DistributionError(
            "A manual distribution is launched, not activated.", key="wrong_kind"
        )
    current = distribution.audience == Audience.SEGMENT and distribution.include_current_members
    size = _start(distribution, "activated", count_audience=current)
    if size is None:
        return distribution
    if distribution.audience == Audience.SEGMENT:
        assert distribution.segment is not None  # _require_complete() checked it
        trigger = f"entering the segment “{distribution.segment.name}”"
    else:
        trigger = TRIGGER_EVENTS.get(distribution.trigger_event, distribution.trigger_event)
        trigger = f"the event “{trigger}”"
    message = f"Activated by {_who(actor)}: fires on {trigger}."
    if current:
        message += f" The {size:,} current members are served now."
    # Events up to now are history: the consumer starts after the newest one (ids, not
    # timestamps: now() is a transaction's start, so a timestamp cut would be fuzzy).
    after_event = Event.objects.aggregate(last=Max("id"))["last"] or 0
    activity_log(distribution, ACTIVATED, message, audience_size=size, after_event=after_event)
    if current:
        enqueue_fanout(distribution.pk)
    return distribution


# --- Pause, resume, archive, duplicate ------------------------------------------------------


@transaction.atomic
def distribution_pause(*, distribution: Distribution, actor: Actor) -> Distribution:
    """Stop publishing and queueing (messages already queued still go out). A distribution
    paused because its pool ran out becomes paused by the user: a top-up no longer resumes
    it."""
    changed = Distribution.objects.filter(
        pk=distribution.pk, status__in=[Status.LIVE, Status.PAUSED]
    ).exclude(status=Status.PAUSED, pause_reason=PAUSED_BY_USER)
    if not changed.update(
        status=Status.PAUSED, pause_reason=PAUSED_BY_USER, updated_at=timezone.now()
    ):
        distribution.refresh_from_db()
        if distribution.status == Status.PAUSED:
            return distribution
        raise DistributionError(
            f"Only a live distribution can be paused; “{distribution.name}” is "
            f"{distribution.get_status_display().lower()}.",
            key="distribution_not_live",
        )
    distribution.refresh_from_db()
    activity_log(distribution, "paused", f"Paused by {_who(actor)}.")
    return distribution


@transaction.atomic
def distribution_resume(*, distribution: Distribution, actor: Actor) -> Distribution:
    """paused → live; the customers still waiting are served (and, for an automatic
    distribution, the events that arrived during the pause are handled)."""
    distribution.refresh_from_db()
    if distribution.status == Status.LIVE:
        return distribution
    if distribution.status != Status.PAUSED:
        raise DistributionError(
            f"Only a paused distribution can be resumed; “{distribution.name}” is "
            f"{distribution.get_status_display().lower()}.",
            key="distribution_not_paused",
        )
    if distribution.pause_reason == PAUSED_POOL_EMPTY and not free_codes(distribution):
        assert distribution.campaign is not None  # launched with one, kept (PROTECT, drafts only)
        raise DistributionError(
            f"The pool of “{distribution.campaign.name}” is still empty. Ask the brand for a "
            "top-up; the distribution resumes by itself when the codes arrive.",
            key="pool_empty",
        )
    if distribution.pause_reason == PAUSED_CAMPAIGN and campaign_problem(distribution.campaign):
        assert distribution.campaign is not None  # launched with one, kept (PROTECT, drafts only)
        raise DistributionError(
            f"The campaign “{distribution.campaign.name}” cannot publish codes (inactive, "
            "expired or out of codes); ask the brand. It can be resumed once the campaign is "
            "usable again.",
            key="campaign_unusable",
        )
    changed = Distribution.objects.filter(pk=distribution.pk, status=Status.PAUSED).update(
        status=Status.LIVE, pause_reason="", updated_at=timezone.now()
    )
    distribution.refresh_from_db()
    if changed:
        activity_log(distribution, "resumed", f"Resumed by {_who(actor)}.")
        enqueue_fanout(distribution.pk)
        if distribution.kind == Kind.AUTOMATIC:
            enqueue_consume(distribution.pk)
    return distribution


@transaction.atomic
def distribution_archive(*, distribution: Distribution, actor: Actor) -> Distribution:
    """Put it away: nothing more is published or queued (a live one stops). Messages already
    queued still go out; reminders stop."""
    changed = (
        Distribution.objects.filter(pk=distribution.pk)
        .exclude(status=Status.ARCHIVED)
        .update(status=Status.ARCHIVED, updated_at=timezone.now())
    )
    distribution.refresh_from_db()
    if changed:
        activity_log(distribution, "archived", f"Archived by {_who(actor)}.")
    return distribution


@transaction.atomic
def distribution_delete(*, distribution: Distribution, actor: Actor) -> None:
    """Delete a draft (a conditional DELETE: a draft launched meanwhile in another tab is
    kept, and the person is told to archive it instead)."""
    deleted, _ = Distribution.objects.filter(pk=distribution.pk, status=Status.DRAFT).delete()
    if not deleted:
        raise DistributionError(
            f"“{distribution.name}” has been launched, so it cannot be deleted; archive it to "
            "put it away (its numbers stay).",
            key="distribution_not_draft",
        )


def _copy_name(name: str) -> str:
    base = f"Copy of {name}"[:110]
    candidate, number = base, 2
    while Distribution.objects.filter(name__iexact=candidate).exists():
        candidate = f"{base} ({number})"
        number += 1
    return candidate


def _strip_pipeline_keys(content: dict[str, Any]) -> dict[str, Any]:
    return {
        channel: {k: v for k, v in (values or {}).items() if k not in PIPELINE_KEYS}
        for channel, values in (content or {}).items()
    }


@transaction.atomic
def distribution_duplicate(*, distribution: Distribution, actor: Actor) -> Distribution:
    """A new draft with the same steps (“Copy of …”, a unique name); the wizard reopens it at
    the step the original had reached. Chosen customers are copied too."""
    copy = Distribution.objects.create(
        name=_copy_name(distribution.name),
        kind=distribution.kind,
        status=Status.DRAFT,
        step=distribution.step,
        channels=list(distribution.channels or []),
        content=_strip_pipeline_keys(distribution.content),
        reminders=[
            {**reminder, "content": _strip_pipeline_keys(reminder.get("content", {}))}
            for reminder in (distribution.reminders or [])
        ],
        audience=distribution.audience,
        segment_id=distribution.segment_id,
        trigger_event=distribution.trigger_event,
        include_current_members=distribution.include_current_members,
        campaign_id=distribution.campaign_id,
        created_by_id=actor.pk if actor is not None else None,
    )
    DistributionCustomer.objects.bulk_create(
        [
            DistributionCustomer(distribution=copy, customer_id=customer_id)
            for customer_id in distribution.chosen.values_list("customer_id", flat=True)
        ]
    )
    activity_log(
        distribution,
        "duplicated",
        f"Duplicated by {_who(actor)} into “{copy.name}”.",
        copy_id=copy.pk,
    )
    return copy
