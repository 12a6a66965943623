"""Wizard steps 4 (the message of every active channel) and 5 (up to three reminders, each
with its own messages), and the live preview of a message for a sample customer.

Messages are validated by the channel forms of wizard/forms.py (unknown merge tags are errors,
email HTML is sanitized); reminders' rows are added and removed with htmx without saving, and
saved together with Next or Back."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.distributions.completeness import CHANNEL_LABELS
from apps.distributions.models import CHANNELS, MAX_REMINDERS, Distribution
from apps.distributions.pipeline.audience import REMINDER_CHANNELS
from apps.distributions.wizard import drafts
from apps.distributions.wizard.base import TEMPLATE_DIR, advance, draft_view, page
from apps.distributions.wizard.drafts import DraftError
from apps.distributions.wizard.forms import ReminderDaysForm, content_form, unescape_merge_tags
from apps.messaging.sanitize import sanitize_template
from apps.messaging.templating import MERGE_TAGS, TemplateError, sample_context, validate_template
from apps.messaging.templating import render as render_template

# --- Step 4: messages ------------------------------------------------------------------------


def _merge_tags() -> list[dict[str, str | bool]]:
    return [
        {
            "name": tag.name,
            "insert": "{{ " + tag.name.replace("<key>", "key") + " }}",
            "description": tag.description,
            "example": tag.example,
            "needs_key": "<key>" in tag.name,
        }
        for tag in MERGE_TAGS
    ]


def _channel_panels(
    d: Distribution, data: Any, content: dict[str, Any], *, prefix: str = "", reminder: bool = False
) -> list[dict[str, Any]]:
    accounts = drafts.channel_accounts()
    channels = [c for c in d.channels if not reminder or c in REMINDER_CHANNELS]
    panels = []
    for channel in channels:
        form = content_form(
            channel,
            data=data,
            initial=content.get(channel) or {},
            prefix=f"{prefix}{channel}",
            account=accounts.get(channel),
            reminder=reminder,
        )
        panels.append(
            {
                "channel": channel,
                "label": CHANNEL_LABELS[channel],
                "form": form,
                "prefix": f"{prefix}{channel}",
                "sandbox": channel not in accounts,
            }
        )
    return panels


def _sms_counts(panels: list[dict[str, Any]], data: Any) -> None:
    for panel in panels:
        if panel["channel"] == "sms":
            field = panel["form"]["text"]
            panel["sms_count"] = drafts.sms_count(str(field.value() or "").strip())


def _message_context(panels: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "panels": panels,
        "merge_tags": _merge_tags(),
        "gsm_basic": drafts.GSM_BASIC,
        "gsm_extended": drafts.GSM_EXTENDED,
    }


def step_message(request: HttpRequest, d: Distribution) -> HttpResponse:
    data = request.POST if request.method == "POST" else None
    panels = _channel_panels(d, data, d.content)
    if data is not None and all(panel["form"].is_valid() for panel in panels):
        content = {panel["channel"]: panel["form"].content() for panel in panels}
        drafts.draft_set_content(distribution=d, content=content)
        return advance(request, d, 4)
    _sms_counts(panels, data)
    errors = data is not None
    return page(request, d, 4, _message_context(panels), errors=errors)


@draft_view("POST")
def wizard_preview(request: HttpRequest, distribution: Distribution) -> HttpResponse:
    """The live preview of one channel's message for a sample customer (email: subject and
    the HTML in a sandboxed frame; SMS and Intercom: the text and its length)."""
    prefix = request.POST.get("prefix", "")
    channel = prefix.rsplit("-", 1)[-1] if prefix else ""
    if channel not in CHANNELS:
        return HttpResponse("Unknown channel.", status=400)
    # request.tenant is set by PartnerRoutingMiddleware, which the stubs cannot know.
    context = sample_context(partner=request.tenant)  # type: ignore[attr-defined]
    preview: dict[str, Any] = {"channel": channel, "prefix": prefix, "problems": []}
    parts: list[tuple[str, str, bool]] = []
    if channel == "email":
        body = sanitize_template(unescape_merge_tags(request.POST.get(f"{prefix}-html", "")))
        parts = [
            ("subject", request.POST.get(f"{prefix}-subject", ""), False),
            ("html", body, True),
        ]
    elif channel in ("sms", "intercom"):
        parts = [("text", request.POST.get(f"{prefix}-text", ""), False)]
    for name, source, html in parts:
        problems = validate_template(source, html=html)
        if problems:
            preview["problems"] += [str(p) for p in problems]
            continue
        try:
            preview[name] = render_template(source, context, html=html)
        except TemplateError as exc:  # pragma: no cover - validated just above
            preview["problems"] += [str(p) for p in exc.problems]
    if "text" in preview and channel == "sms":
        preview["sms_count"] = drafts.sms_count(preview["text"].strip())
    return render(request, f"{TEMPLATE_DIR}/_preview.html", {"preview": preview})


# --- Step 5: reminders -----------------------------------------------------------------------


def _reminder_rows_from_post(d: Distribution, data: Any) -> list[dict[str, Any]]:
    """The rows as typed (raw strings), to re-render them after an add or a remove."""
    try:
        count = int(data.get("reminder_count", "0"))
    except ValueError:
        count = 0
    rows = []
    for index in range(max(0, min(count, 50))):
        prefix = f"r{index}-"
        content: dict[str, dict[str, str]] = {}
        for channel in d.channels:
            if channel not in REMINDER_CHANNELS:
                continue
            values = {
                key[len(f"{prefix}{channel}-") :]: value
                for key, value in data.items()
                if key.startswith(f"{prefix}{channel}-")
            }
            content[channel] = values
        rows.append({"days": data.get(f"{prefix}days", ""), "content": content})
    return rows


def _reminder_forms(
    d: Distribution, rows: list[dict[str, Any]], data: Any = None
) -> list[dict[str, Any]]:
    forms_ = []
    for index, row in enumerate(rows):
        prefix = f"r{index}-"
        days = ReminderDaysForm(data, initial={"days": row.get("days")}, prefix=f"r{index}")
        panels = _channel_panels(d, data, row.get("content") or {}, prefix=prefix, reminder=True)
        _sms_counts(panels, data)
        forms_.append({"index": index, "number": index + 1, "days": days, "panels": panels})
    return forms_


def _reminders_page(
    request: HttpRequest,
    d: Distribution,
    reminders: list[dict[str, Any]],
    *,
    error: str = "",
    fragment: str | None = None,
    errors: bool = False,
) -> HttpResponse:
    context = {
        **_message_context([]),
        "reminders": reminders,
        "reminder_count": len(reminders),
        "max_reminders": MAX_REMINDERS,
        "can_add": len(reminders) < MAX_REMINDERS,
        "reminders_error": error,
        "mailchimp_only": "mailchimp" in d.channels,
    }
    return page(request, d, 5, context, fragment=fragment, errors=errors)


def step_reminders(request: HttpRequest, d: Distribution) -> HttpResponse:
    if request.method != "POST":
        return _reminders_page(request, d, _reminder_forms(d, d.reminders))
    action = request.POST.get("action", "next")
    rows = _reminder_rows_from_post(d, request.POST)
    if action == "add" or (action.startswith("remove-") and action[7:].isdigit()):
        # Add or remove a row: re-render what was typed, nothing saved yet.
        error = ""
        if action == "add":
            if len(rows) >= MAX_REMINDERS:
                error = f"A distribution has at most {MAX_REMINDERS} reminders."
            else:
                rows.append({"days": "", "content": {}})
        else:
            index = int(action[7:])
            rows = [row for i, row in enumerate(rows) if i != index]
        return _reminders_page(
            request, d, _reminder_forms(d, rows), error=error, fragment="reminders"
        )
    forms_ = _reminder_forms(d, rows, request.POST)
    if len(rows) > MAX_REMINDERS:
        return _reminders_page(
            request,
            d,
            forms_,
            error=f"A distribution has at most {MAX_REMINDERS} reminders; remove "
            f"{len(rows) - MAX_REMINDERS}.",
            errors=True,
        )
    valid = all(
        f["days"].is_valid() and all(p["form"].is_valid() for p in f["panels"]) for f in forms_
    )
    if not valid:
        return _reminders_page(request, d, forms_, errors=True)
    reminders = []
    for f in forms_:
        content = {p["channel"]: p["form"].content() for p in f["panels"]}
        if "mailchimp" in d.channels:
            # MailChimp has no message: a reminder sets the same merge field again.
            content["mailchimp"] = dict(d.content.get("mailchimp") or {})
        reminders.append({"days": f["days"].cleaned_data["days"], "content": content})
    try:
        drafts.draft_set_reminders(distribution=d, reminders=reminders)
    except DraftError as exc:
        return _reminders_page(request, d, forms_, error=exc.message, errors=True)
    return advance(request, d, 5)
