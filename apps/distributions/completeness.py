"""Whether a distribution draft is complete: the one rule set that the wizard's steps, its
review page and launch / activate (apps.distributions.services) all apply, so a draft the
wizard refuses can never go live another way.

Each of the seven steps has its data rule (`step_data_problems`). The wizard adds one gate of
its own: a step is complete only once it has been saved (`Distribution.step` is the highest step
saved), so `step_problems` / `first_incomplete` also say "not done yet"; `draft_problems` is the
data rules alone, for a draft built without the wizard (an API, a test, a duplicate).
"""

from __future__ import annotations

import re
from typing import Any

from apps.campaigns.models import Campaign
from apps.campaigns.selectors import publishable_campaigns
from apps.customers.models import Segment
from apps.distributions.models import CHANNELS, MAX_REMINDERS, TRIGGER_EVENTS, Distribution
from apps.distributions.pipeline.audience import reminder_channels
from apps.messaging.sanitize import html_to_text
from apps.messaging.templating import validate_template

STEPS: list[tuple[int, str]] = [
    (1, "Type"),
    (2, "Name"),
    (3, "Channels"),
    (4, "Message"),
    (5, "Reminders"),
    (6, "Audience"),
    (7, "Campaign"),
]
STEP_TITLES = dict(STEPS)
LAST_STEP = 7
CHANNEL_LABELS = {
    "email": "Email",
    "sms": "SMS",
    "mailchimp": "MailChimp",
    "intercom": "Intercom",
}
MERGE_FIELD_RE = re.compile(r"^[A-Z0-9_]{1,10}$")
ATTRIBUTE_RE = re.compile(r"^[A-Za-z0-9_ -]{1,190}$")


def _template_problems(source: str, label: str, *, html: bool = False) -> list[str]:
    return [f"{label}: {problem}" for problem in validate_template(source, html=html)]


def content_problems(channel: str, data: Any, *, reminder: bool = False) -> list[str]:
    """What is missing or wrong in one channel's message (step 4, or a reminder's)."""
    data = data if isinstance(data, dict) else {}
    label = CHANNEL_LABELS.get(channel, channel)
    problems: list[str] = []
    if channel == "email":
        subject, html = str(data.get("subject", "")), str(data.get("html", ""))
        if not subject.strip():
            problems.append(f"{label}: the subject is empty.")
        if not html_to_text(html).strip():
            problems.append(f"{label}: the message is empty.")
        problems += _template_problems(subject, f"{label} subject")
        problems += _template_problems(html, f"{label} message", html=True)
    elif channel == "sms":
        text = str(data.get("text", ""))
        if not text.strip():
            problems.append(f"{label}: the text is empty.")
        problems += _template_problems(text, f"{label} text")
    elif channel == "mailchimp":
        if not MERGE_FIELD_RE.match(str(data.get("merge_field", ""))):
            problems.append(
                f"{label}: name the merge field that receives the code (up to 10 capital "
                "letters, digits or _)."
            )
    elif channel == "intercom":
        text, attribute = str(data.get("text", "")), str(data.get("attribute", ""))
        if reminder and not text.strip():
            problems.append(f"{label}: a reminder needs a message text.")
        if not reminder and not text.strip() and not attribute.strip():
            problems.append(f"{label}: give a message text, an attribute, or both.")
        if attribute and not ATTRIBUTE_RE.match(attribute):
            problems.append(f"{label}: the attribute name has characters Intercom refuses.")
        problems += _template_problems(text, f"{label} text")
    return problems


def audience_problem(
    kind: str, audience: str, segment: Segment | None, trigger_event: str, *, chosen: int
) -> tuple[str, str] | None:
    """(key, sentence) of what is wrong with step 6's choice, or None."""
    automatic = kind == Distribution.Kind.AUTOMATIC
    if audience == Distribution.Audience.SEGMENT:
        if segment is None:
            return "no_segment", "Choose a segment (its segment may have been deleted)."
    elif audience == Distribution.Audience.CUSTOMERS:
        if automatic:
            return (
                "audience_kind",
                "An automatic distribution reaches a segment or fires on an event; "
                "chosen customers are for manual ones.",
            )
        if chosen == 0:
            return "no_customers", "Pick at least one customer."
    elif audience == Distribution.Audience.EVENT:
        if not automatic:
            return (
                "audience_kind",
                "A manual distribution is sent once, to a segment or chosen customers; "
                "events are for automatic ones.",
            )
        if trigger_event not in TRIGGER_EVENTS:
            return "no_event", "Choose the customer event that sends the code."
    else:
        return "no_audience", "Choose who receives the codes."
    return None


def campaign_problem(campaign: Campaign | None) -> str | None:
    """What stops step 7's campaign from publishing codes (inactive, expired, empty pool)."""
    if campaign is None:
        return "Choose the campaign whose codes are sent."
    if not publishable_campaigns().filter(pk=campaign.pk).exists():
        return (
            f"The campaign “{campaign.name}” cannot publish codes (inactive, expired or out "
            "of codes): top it up or choose another."
        )
    return None


def _days(reminder: dict[str, Any]) -> int:
    try:
        return int(reminder.get("days") or 0)
    except (TypeError, ValueError):
        return 0


def step_data_problems(distribution: Distribution, step: int) -> list[str]:
    """What step `step` of the draft holds that cannot be sent as it is."""
    d = distribution
    if step == 1:
        return [] if d.kind in Distribution.Kind.values else ["Choose manual or automatic."]
    if step == 2:
        name = " ".join((d.name or "").split())
        if not name:
            return ["Give the distribution a name."]
        if Distribution.objects.filter(name__iexact=name).exclude(pk=d.pk).exists():
            return [f"Another distribution is already named “{name}”; rename this one."]
        return []
    channels = [c for c in (d.channels or []) if c in CHANNELS]
    if step == 3:
        if not channels or len(channels) != len(d.channels or []):
            return ["Add at least one channel (email, SMS, MailChimp or Intercom)."]
        return []
    if step == 4:
        content = d.content or {}
        return [p for channel in channels for p in content_problems(channel, content.get(channel))]
    if step == 5:
        reminders = d.reminders or []
        problems = []
        if len(reminders) > MAX_REMINDERS:
            problems.append(f"Keep at most {MAX_REMINDERS} reminders.")
        for number, reminder in enumerate(reminders[:MAX_REMINDERS], start=1):
            reminder = reminder if isinstance(reminder, dict) else {}
            if _days(reminder) < 1:
                problems.append(f"Reminder {number}: send it at least 1 day after the message.")
            content = reminder.get("content") or {}
            for channel in reminder_channels(d):
                problems += [
                    f"Reminder {number}, {p}"
                    for p in content_problems(channel, content.get(channel), reminder=True)
                ]
        return problems
    if step == 6:
        chosen = d.chosen.count() if d.audience == Distribution.Audience.CUSTOMERS else 0
        problem = audience_problem(d.kind, d.audience, d.segment, d.trigger_event, chosen=chosen)
        return [problem[1]] if problem else []
    if step == 7:
        found = campaign_problem(d.campaign)
        return [found] if found else []
    raise ValueError(step)


def draft_problems(distribution: Distribution) -> list[tuple[int, str]]:
    """Every (step, problem) of the draft's data, in step order. Empty means it can be
    launched (manual) or activated (automatic)."""
    return [
        (step, problem)
        for step in range(1, LAST_STEP + 1)
        for problem in step_data_problems(distribution, step)
    ]


def step_problems(distribution: Distribution, *, upto: int = LAST_STEP) -> dict[int, list[str]]:
    """{step: problems} for the wizard's incomplete steps among 1..upto (empty: all done)."""
    problems: dict[int, list[str]] = {}
    for step in range(1, upto + 1):
        if distribution.step < step:
            problems[step] = [f"Step {step} ({STEP_TITLES[step]}) is not done yet."]
            continue
        found = step_data_problems(distribution, step)
        if found:
            problems[step] = found
    return problems


def first_incomplete(distribution: Distribution, *, before: int = LAST_STEP + 1) -> int | None:
    """The wizard's first incomplete step before `before`, or None when all are complete."""
    for step in range(1, before):
        if distribution.step < step or step_data_problems(distribution, step):
            return step
    return None
