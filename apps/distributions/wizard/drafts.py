"""The wizard's draft: saving each of the seven steps on the one Distribution row, and deciding
which steps are complete.

A step is complete when it has been saved at least once (`Distribution.step` is the highest
step saved) *and* what it holds is still valid: changing the channels at step 3 makes step 4
incomplete again until the new channel has a message, switching a manual draft to automatic
makes a hand-picked audience incomplete, a deleted segment or an emptied pool does the same.
The views gate on `first_incomplete`: a step cannot be opened or posted while an earlier one is
incomplete.

Every write is a conditional UPDATE on `status = draft`, so a step posted from a stale tab
after the distribution was launched changes nothing (DraftError "not_a_draft").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from apps.campaigns.models import Campaign
from apps.core.errors import DomainError
from apps.customers.models import Customer, Segment, SegmentMembership
from apps.customers.segments.filters import segment_queryset
from apps.distributions.completeness import audience_problem, campaign_problem
from apps.distributions.models import (
    CHANNELS,
    MAX_REMINDERS,
    Distribution,
    DistributionCustomer,
)
from apps.messaging import sms as sms_rules
from apps.messaging.models import ChannelAccount

PLACEHOLDER_NAME = "Untitled distribution"
# The SMS counter in the browser gets apps.messaging.sms's own character tables, so the two
# counts cannot drift apart.
GSM_BASIC = "".join(sorted(sms_rules._GSM_BASIC))
GSM_EXTENDED = "".join(sorted(sms_rules._GSM_EXTENDED))


class DraftError(DomainError):
    """A draft that cannot take this change; `field` names the form field to attach it to."""

    key = "invalid_draft"

    def __init__(self, message: str, *, key: str | None = None, field: str | None = None):
        super().__init__(message, key=key)
        self.field = field


# --- Writes --------------------------------------------------------------------------------


def _save(distribution: Distribution, **fields: Any) -> None:
    """Write `fields` only while the row is still a draft."""
    fields["updated_at"] = timezone.now()
    changed = Distribution.objects.filter(
        pk=distribution.pk, status=Distribution.Status.DRAFT
    ).update(**fields)
    if not changed:
        raise DraftError(
            "This distribution has been launched and can no longer be edited. Pause it, or "
            "duplicate it into a new draft.",
            key="not_a_draft",
        )
    for name, value in fields.items():
        setattr(distribution, name, value)


def _done(distribution: Distribution, step: int) -> int:
    return max(distribution.step, step)


def _placeholder_name() -> str:
    taken = {
        name.lower()
        for name in Distribution.objects.filter(name__istartswith=PLACEHOLDER_NAME).values_list(
            "name", flat=True
        )
    }
    number = 1
    while True:
        name = PLACEHOLDER_NAME if number == 1 else f"{PLACEHOLDER_NAME} {number}"
        if name.lower() not in taken:
            return name
        number += 1


def draft_create(*, kind: str, actor_id: int | None) -> Distribution:
    """Step 1 of a new distribution. The name is a unique placeholder until step 2 (names are
    unique, and a draft exists before it has one)."""
    if kind not in Distribution.Kind.values:
        raise DraftError("Choose manual or automatic.", key="invalid_kind", field="kind")
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return Distribution.objects.create(
                    name=_placeholder_name(), kind=kind, step=1, created_by_id=actor_id
                )
        except IntegrityError:  # another draft took the same placeholder at the same moment
            continue
    raise DraftError("Could not start a draft; try again.", key="draft_busy")


def draft_set_kind(*, distribution: Distribution, kind: str) -> None:
    if kind not in Distribution.Kind.values:
        raise DraftError("Choose manual or automatic.", key="invalid_kind", field="kind")
    _save(distribution, kind=kind, step=_done(distribution, 1))


def name_clash(name: str, *, exclude: int | None = None) -> Distribution | None:
    """Another distribution of this partner with the same name, ignoring case."""
    same_name = Distribution.objects.filter(name__iexact=name)
    if exclude is not None:
        same_name = same_name.exclude(pk=exclude)
    return same_name.first()


def _name_taken(existing: Distribution) -> DraftError:
    return DraftError(
        f"There is already a distribution named “{existing.name}”. Choose another name.",
        key="name_taken",
        field="name",
    )


def draft_set_name(*, distribution: Distribution, name: str) -> None:
    name = " ".join(name.split())
    if not name:
        raise DraftError("Give the distribution a name.", key="name_required", field="name")
    existing = name_clash(name, exclude=distribution.pk)
    if existing is not None:
        raise _name_taken(existing)
    try:
        with transaction.atomic():
            _save(distribution, name=name, step=_done(distribution, 2))
    except IntegrityError:  # the same name saved by someone else in between
        existing = name_clash(name, exclude=distribution.pk)
        raise _name_taken(existing or distribution) from None


def _prune(data: dict[str, Any], channels: list[str]) -> dict[str, Any]:
    return {channel: value for channel, value in data.items() if channel in channels}


def draft_toggle_channel(*, distribution: Distribution, channel: str, on: bool) -> None:
    """The plus / cross on a channel card: saved at once. A removed channel's messages go too
    (a distribution sends exactly what its channels say)."""
    if channel not in CHANNELS:
        raise DraftError("There is no such channel.", key="invalid_channel", field="channels")
    active = set(distribution.channels)
    active.add(channel) if on else active.discard(channel)
    channels = [c for c in CHANNELS if c in active]
    reminders = [
        {**reminder, "content": _prune(reminder.get("content", {}), channels)}
        for reminder in distribution.reminders
    ]
    _save(
        distribution,
        channels=channels,
        content=_prune(distribution.content, channels),
        reminders=reminders,
    )


def draft_confirm_channels(*, distribution: Distribution) -> None:
    """Next on step 3: at least one channel must be on."""
    if not distribution.channels:
        raise DraftError(
            "Add at least one channel: press the plus on a channel card.",
            key="no_channel",
            field="channels",
        )
    _save(distribution, step=_done(distribution, 3))


def draft_set_content(*, distribution: Distribution, content: dict[str, dict[str, str]]) -> None:
    """Step 4: the (already validated) message of every active channel."""
    _save(distribution, content=_prune(content, distribution.channels), step=_done(distribution, 4))


def draft_set_reminders(*, distribution: Distribution, reminders: list[dict[str, Any]]) -> None:
    """Step 5: validated reminders, in order of their delay."""
    if len(reminders) > MAX_REMINDERS:
        raise DraftError(
            f"A distribution has at most {MAX_REMINDERS} reminders; remove one.",
            key="too_many_reminders",
        )
    for reminder in reminders:
        if int(reminder.get("days", 0)) < 1:
            raise DraftError(
                "A reminder is sent at least 1 day after the first message.",
                key="reminder_days",
            )
    ordered = sorted(reminders, key=lambda r: int(r["days"]))
    _save(distribution, reminders=ordered, step=_done(distribution, 5))


def draft_set_audience(
    *,
    distribution: Distribution,
    audience: str,
    segment: Segment | None = None,
    trigger_event: str = "",
    include_current_members: bool = False,
) -> None:
    """Step 6. Values that do not belong to the chosen audience are cleared (chosen customers
    are kept, so switching back to them does not lose the list)."""
    problem = audience_problem(
        distribution.kind,
        audience,
        segment,
        trigger_event,
        chosen=distribution.chosen.count() if audience == Distribution.Audience.CUSTOMERS else 0,
    )
    if problem:
        raise DraftError(problem[1], key=problem[0], field="audience")
    is_segment = audience == Distribution.Audience.SEGMENT
    _save(
        distribution,
        audience=audience,
        segment=segment if is_segment else None,
        trigger_event=trigger_event if audience == Distribution.Audience.EVENT else "",
        include_current_members=bool(
            include_current_members and is_segment and distribution.kind == "automatic"
        ),
        step=_done(distribution, 6),
    )


def draft_customers_add(*, distribution: Distribution, customer_ids: Iterable[int]) -> int:
    """Pick customers for a manual distribution; returns how many were new."""
    if not distribution.is_draft:
        raise DraftError("This distribution can no longer be edited.", key="not_a_draft")
    ids = list(Customer.objects.filter(pk__in=list(customer_ids)).values_list("pk", flat=True))
    created = DistributionCustomer.objects.bulk_create(
        [DistributionCustomer(distribution=distribution, customer_id=pk) for pk in ids],
        ignore_conflicts=True,
    )
    _save(distribution)  # bumps updated_at, and refuses if launched meanwhile
    return len(created)


def draft_customers_remove(*, distribution: Distribution, customer_ids: Iterable[int]) -> int:
    if not distribution.is_draft:
        raise DraftError("This distribution can no longer be edited.", key="not_a_draft")
    removed, _ = DistributionCustomer.objects.filter(
        distribution=distribution, customer_id__in=list(customer_ids)
    ).delete()
    _save(distribution)
    return removed


def draft_set_campaign(*, distribution: Distribution, campaign: Campaign) -> None:
    problem = campaign_problem(campaign)
    if problem:
        raise DraftError(problem, key="campaign_unusable", field="campaign")
    _save(distribution, campaign=campaign, step=_done(distribution, 7))


# --- Reads for the pages -------------------------------------------------------------------


@dataclass(frozen=True)
class AudienceSize:
    """Who the audience holds now: everyone, and those reachable by email / by SMS (an address
    and consent). `per_event` when an event audience fires one customer at a time."""

    total: int = 0
    email: int = 0
    sms: int = 0
    per_event: bool = False
    known: bool = True  # False until a segment (or an audience) is chosen


def _sizes(customer_ids: Any) -> AudienceSize:
    counts = Customer.objects.filter(pk__in=customer_ids).aggregate(
        total=Count("id"),
        email=Count("id", filter=Q(email_consent=True, email__isnull=False) & ~Q(email="")),
        sms=Count("id", filter=Q(sms_consent=True) & ~Q(phone="")),
    )
    return AudienceSize(total=counts["total"], email=counts["email"], sms=counts["sms"])


def audience_now(
    *, distribution: Distribution, audience: str, segment: Segment | None
) -> AudienceSize:
    """The audience size the wizard shows for the choice being made (not yet saved)."""
    if audience == Distribution.Audience.SEGMENT:
        if segment is None:
            return AudienceSize(known=False)
        if segment.kind == Segment.Kind.ACTIVE and segment.evaluated_at is None:
            # Just created: its members are being stored by a job; count its filter meanwhile.
            return _sizes(segment_queryset(segment.filter).values("id"))
        return _sizes(SegmentMembership.objects.filter(segment=segment).values("customer_id"))
    if audience == Distribution.Audience.CUSTOMERS:
        return _sizes(
            DistributionCustomer.objects.filter(distribution=distribution).values("customer_id")
        )
    if audience == Distribution.Audience.EVENT:
        return AudienceSize(per_event=True)
    return AudienceSize(known=False)


def saved_audience_size(distribution: Distribution) -> AudienceSize:
    return audience_now(
        distribution=distribution, audience=distribution.audience, segment=distribution.segment
    )


def channel_accounts() -> dict[str, ChannelAccount]:
    """The connected account of each channel; a channel missing here runs in sandbox."""
    return {account.channel: account for account in ChannelAccount.objects.all()}


def default_merge_field(account: ChannelAccount | None) -> str:
    return str((account.config if account else {}).get("merge_field") or "COUPON")


def default_attribute(account: ChannelAccount | None) -> str:
    return str((account.config if account else {}).get("attribute") or "coupon_code")


@dataclass(frozen=True)
class SmsCount:
    characters: int
    segments: int
    encoding: str

    def __str__(self) -> str:
        plural = "" if self.segments == 1 else "s"
        chars = "" if self.characters == 1 else "s"
        return (
            f"{self.characters} character{chars} · {self.segments} segment{plural} "
            f"({self.encoding})"
        )


def sms_count(text: str) -> SmsCount:
    """The counter under the SMS text, by apps.messaging.sms's rules (wizard.js mirrors them):
    GSM-7 extension characters count twice, UCS-2 counts UTF-16 units."""
    encoding, segments = sms_rules.sms_segments(text)
    if encoding == "GSM-7":
        characters = sum(2 if c in GSM_EXTENDED else 1 for c in text)
    else:
        characters = sum(2 if ord(c) > 0xFFFF else 1 for c in text)
    return SmsCount(characters=characters, segments=segments, encoding=encoding)
