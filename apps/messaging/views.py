"""Partner pages under /p/<partner>/channels/: connect each channel, test the connection,
send a test message, and read the outbox (what was sent, or what the sandbox kept)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import NoReverseMatch
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.accounts import permissions as perms
from apps.core.csv import streamed_csv
from apps.core.htmx import render_page
from apps.core.permissions import capability
from apps.messaging import selectors, services
from apps.messaging.forms import ACCOUNT_FORMS, OutboxFilterForm, TestMessageForm
from apps.messaging.links import partner_url
from apps.messaging.models import Channel, ChannelAccount, OutboxMessage
from apps.messaging.sms import sms_segments

# Where each provider should call us back, by channel (URL names in apps/messaging/urls_hooks).
HOOKS: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    Channel.SMS: [
        ("Status callback (set automatically on every message)", "hooks:twilio_status", {}),
        ("Incoming messages webhook (STOP / START replies)", "hooks:twilio_inbound", {}),
    ],
    Channel.INTERCOM: [("Webhook endpoint", "hooks:intercom", {})],
}


def _channel(value: str) -> str:
    if value not in Channel.values:
        raise Http404("No such channel.")
    return value


def hook_urls(account: ChannelAccount | None, channel: str) -> list[tuple[str, str]]:
    """The callback URLs a partner pastes into the provider's console."""
    entries = list(HOOKS.get(channel, []))
    if channel == Channel.MAILCHIMP and account and account.webhook_token:
        entries.append(
            (
                "Audience webhook (subscribe / unsubscribe)",
                "hooks:mailchimp",
                {"token": account.webhook_token},
            )
        )
    urls = []
    for label, name, kwargs in entries:
        try:
            urls.append((label, partner_url(name, **kwargs)))
        except NoReverseMatch:  # a provider's webhooks not routed in this build
            continue
    return urls


@capability(perms.CHANNELS_VIEW)
def channel_list_view(request: HttpRequest) -> HttpResponse:
    since = timezone.now() - timedelta(days=7)
    return render_page(
        request, "messaging/channels.html", {"cards": selectors.channel_cards(since=since)}
    )


@capability(perms.CHANNELS_MANAGE)
def channel_edit_view(request: HttpRequest, channel: str) -> HttpResponse:
    channel = _channel(channel)
    account = ChannelAccount.objects.filter(channel=channel).first()
    form_class = ACCOUNT_FORMS[channel]
    initial = {
        **(account.config if account else {}),
        "rate_limit": account.rate_limit if account else 10,
    }
    if account and channel == Channel.EMAIL:
        initial["security"] = account.config.get("security", "starttls")
    form = form_class(
        request.POST or None,
        initial=initial,
        saved_hints=account.secret_hints if account else {},
    )
    if request.method == "POST" and form.is_valid():
        account = services.channel_account_save(
            channel=channel,
            config=form.config(),
            secrets=form.secrets(),
            rate_limit=form.cleaned_data["rate_limit"],
        )
        ok, result = services.channel_account_test(account=account)
        level = messages.SUCCESS if ok else messages.WARNING
        messages.add_message(
            request,
            level,
            f"Saved. Connection test: {result}"
            if ok
            else f"Saved, but the connection test failed: {result}",
        )
        return redirect("channels:list")
    return render_page(
        request,
        "messaging/account_form.html",
        {
            "form": form,
            "channel": channel,
            "label": Channel(channel).label,
            "account": account,
            "hooks": hook_urls(account, channel),
        },
    )


@capability(perms.CHANNELS_MANAGE)
@require_POST
def channel_test_view(request: HttpRequest, channel: str) -> HttpResponse:
    account = get_object_or_404(ChannelAccount, channel=_channel(channel))
    services.channel_account_test(account=account)
    card = next(c for c in selectors.channel_cards() if c["channel"] == channel)
    if getattr(request, "htmx", None):
        return render_page(request, "messaging/channels.html", {"card": card}, fragment="card")
    return redirect("channels:list")


@capability(perms.CHANNELS_MANAGE)
def channel_disconnect_view(request: HttpRequest, channel: str) -> HttpResponse:
    account = get_object_or_404(ChannelAccount, channel=_channel(channel))
    waiting = OutboxMessage.objects.filter(
        account=account, status=OutboxMessage.Status.PENDING
    ).count()
    if request.method == "POST":
        moved = services.channel_account_disconnect(account=account)
        note = f" {moved} waiting message(s) moved to the sandbox." if moved else ""
        messages.success(
            request, f"{Channel(channel).label} disconnected: it runs in sandbox now.{note}"
        )
        return redirect("channels:list")
    return render_page(
        request,
        "messaging/disconnect.html",
        {"account": account, "label": Channel(channel).label, "waiting": waiting},
    )


@capability(perms.CHANNELS_MANAGE)
def channel_send_test_view(request: HttpRequest, channel: str) -> HttpResponse:
    channel = _channel(channel)
    if channel not in (Channel.EMAIL, Channel.SMS):
        raise Http404("Test messages go by email or SMS.")
    form = TestMessageForm(request.POST or None, channel=channel)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        text = data["text"]
        draft = services.Draft(
            channel=channel,
            recipient=data["recipient"],
            subject=data.get("subject", "") or "",
            body_text=text,
        )
        created = services.outbox_queue([draft])
        messages.success(request, f"Test message queued to {data['recipient']}.")
        if created and created[0].pk:
            return redirect("channels:message", message_id=created[0].pk)
        return redirect("channels:outbox")
    return render_page(
        request,
        "messaging/send_test.html",
        {"form": form, "channel": channel, "label": Channel(channel).label},
    )


@capability(perms.CHANNELS_VIEW)
def outbox_view(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    form = OutboxFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    rows = selectors.outbox_list(
        channel=filters.get("channel", ""), status=filters.get("status", ""), q=filters.get("q", "")
    )
    if request.GET.get("format") == "csv":
        return streamed_csv(
            filename="outbox.csv",
            header=[
                "id",
                "channel",
                "sandbox",
                "recipient",
                "status",
                "reason",
                "error",
                "attempts",
                "provider_id",
                "created_at",
                "sent_at",
                "delivered_at",
            ],
            rows=lambda: (
                [
                    m.pk,
                    m.channel,
                    m.sandbox,
                    m.recipient,
                    m.status,
                    m.error_key,
                    m.last_error,
                    m.attempts,
                    m.provider_id,
                    m.created_at.isoformat(),
                    m.sent_at.isoformat() if m.sent_at else "",
                    m.delivered_at.isoformat() if m.delivered_at else "",
                ]
                for m in rows.iterator(chunk_size=2000)
            ),
        )
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render_page(
        request,
        "messaging/outbox.html",
        {
            "page": page,
            "form": form,
            "extra_query": (query.urlencode() + "&") if query else "",
            "csv_query": query.urlencode(),
        },
        fragment="results",
    )


@capability(perms.CHANNELS_VIEW)
def message_detail_view(request: HttpRequest, message_id: int) -> HttpResponse:
    message = get_object_or_404(
        OutboxMessage.objects.select_related("customer", "voucher"), pk=message_id
    )
    encoding, segments = (
        sms_segments(message.body_text) if message.channel == Channel.SMS else ("", 0)
    )
    return render_page(
        request,
        "messaging/message.html",
        {
            "message": message,
            "encoding": encoding,
            "segments": segments,
            "calls": json.dumps(message.result.get("calls", message.result), indent=2)
            if message.result
            else "",
        },
    )
