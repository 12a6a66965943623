"""The activity log of a distribution: the lines its page shows (launched, paused, resumed,
reminders queued …), and the reasons a distribution is paused."""

from __future__ import annotations

from typing import Any

from apps.accounts.actors import Actor
from apps.distributions.models import Activity, Distribution

# Why a distribution is paused (Distribution.pause_reason).
PAUSED_BY_USER = "user"
PAUSED_POOL_EMPTY = "pool_empty"
PAUSED_CAMPAIGN = "campaign"  # the campaign became inactive or expired
ACTIVATED = "activated"  # Activity.kind; its data["after_event"] is where events start
RESOLVED = "audience"  # Activity.kind of the line written when the audience was resolved


# --- Activity --------------------------------------------------------------------------------


def activity_log(
    distribution: Distribution | int, kind: str, message: str, **data: Any
) -> Activity:
    distribution_id = distribution if isinstance(distribution, int) else distribution.pk
    return Activity.objects.create(
        distribution_id=distribution_id, kind=kind, message=message[:300], data=data
    )


def actor_label(actor: Actor) -> str:
    """How the log names who did something."""
    return getattr(actor, "email", "") or "the system"
