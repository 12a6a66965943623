"""Unsubscribe links: the signed token, the headers every email carries, and the page the
link opens.

The token is signed with `django.core.signing` under a salt that contains the partner's schema
name, so a token made for partner A fails the signature check under partner B's URL exactly
like a forged one. It never expires: a List-Unsubscribe link in an old email must keep working.

Emails carry RFC 8058 one-click headers:

    List-Unsubscribe: <https://…/p/alpha/m/u/<token>/>, <mailto:…>
    List-Unsubscribe-Post: List-Unsubscribe=One-Click

Mail clients then POST `List-Unsubscribe=One-Click` to the URL without a session or CSRF
token, so the view is csrf-exempt; GET only shows a confirmation page (link scanners and
prefetchers open links with GET and must not unsubscribe anyone).
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from apps.core.db import tenant_connection
from apps.core.permissions import WEBHOOK, capability
from apps.customers.models import Customer
from apps.messaging.links import partner_url
from apps.messaging.services import customer_opt_out
from apps.tenancy.current import current_partner
from apps.tenancy.models import Partner

SALT = "messaging.unsubscribe"
# Channels a link can unsubscribe from, and how the page names their messages.
CHANNELS = {"email": "emails", "sms": "text messages"}


def _salt(schema_name: str) -> str:
    return f"{SALT}:{schema_name}"


def unsubscribe_token(customer_id: int, channel: str = "email", *, schema_name: str = "") -> str:
    """A token naming the customer and channel, valid only under the partner of `schema_name`
    (default: the schema the connection is in)."""
    if channel not in CHANNELS:
        raise ValueError(f"no unsubscribe link for channel {channel!r}")
    schema = schema_name or tenant_connection.schema_name
    # A plain Signer, not dumps()'s TimestampSigner: the same customer always gets the same
    # short link, and it never expires.
    return signing.Signer(salt=_salt(schema)).sign_object([customer_id, channel])


def read_token(token: str, *, schema_name: str) -> tuple[int, str] | None:
    """(customer id, channel) from a token made for this schema, or None when it is forged,
    damaged, or made for another partner."""
    try:
        customer_id, channel = signing.Signer(salt=_salt(schema_name)).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(customer_id, int) or channel not in CHANNELS:
        return None
    return customer_id, channel


def unsubscribe_url(
    customer_id: int, channel: str = "email", *, partner: Partner | None = None
) -> str:
    """The absolute one-click unsubscribe URL of the customer in the current partner (or
    `partner`, which saves a lookup when building many)."""
    partner = partner or current_partner()
    token = unsubscribe_token(customer_id, channel, schema_name=partner.schema_name)
    return partner_url("hooks:unsubscribe", partner=partner, token=token)


def email_headers(customer_id: int, *, partner: Partner | None = None) -> dict[str, str]:
    """The List-Unsubscribe headers of an email to this customer (RFC 2369 and 8058). A
    mailto address is added when UNSUBSCRIBE_MAILTO is set (some clients only offer that)."""
    targets = [f"<{unsubscribe_url(customer_id, 'email', partner=partner)}>"]
    mailto = getattr(settings, "UNSUBSCRIBE_MAILTO", "")
    if mailto:
        targets.append(f"<mailto:{mailto}?subject=unsubscribe>")
    return {
        "List-Unsubscribe": ", ".join(targets),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def mask_email(address: str | None) -> str:
    """ "a•••@example.com": enough for the person to recognise, not for a bystander to read."""
    local, _, domain = (address or "").partition("@")
    if not domain:
        return "your address"
    return f"{local[:1]}•••@{domain}"


# --- views ----------------------------------------------------------------------------------


@csrf_exempt  # RFC 8058: mail clients POST without a session or CSRF token
@capability(WEBHOOK)
@require_http_methods(["GET", "POST"])
def unsubscribe_view(request: HttpRequest, token: str) -> HttpResponse:
    partner = request.tenant  # type: ignore[attr-defined]
    read = read_token(token, schema_name=partner.schema_name)
    customer = Customer.objects.filter(pk=read[0]).first() if read else None
    if read is None or customer is None:
        return render(
            request, "messaging/unsubscribe_invalid.html", {"partner": partner}, status=404
        )
    channel = read[1]
    address = customer.phone if channel == "sms" else customer.email
    context = {
        "partner": partner,
        "channel": channel,
        "what": CHANNELS[channel],
        "address": mask_email(address) if channel == "email" else _mask_phone(address),
    }
    if request.method == "POST":
        customer_opt_out(customer=customer, channel=channel, source="unsubscribe_link")
        return render(request, "messaging/unsubscribed.html", context)
    return render(request, "messaging/unsubscribe.html", context)


def _mask_phone(number: str | None) -> str:
    return f"•••{number[-3:]}" if number else "your number"
