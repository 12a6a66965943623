"""MailChimp audience webhook: /p/<partner>/hooks/mailchimp/<token>/.

MailChimp does not sign its webhooks; the secret is the token in the URL (the account's
`webhook_token`), compared in constant time. MailChimp checks a new webhook with a GET, which
must answer 200; events come as form-encoded POSTs (`type`, `data[email]`, `data[list_id]`,
`data[merges][FNAME]`…):

- `subscribe`: the customer is created or updated by email with email consent from
  "mailchimp", and a `mailchimp.subscribed` event is recorded (what triggers a welcome
  distribution);
- `unsubscribe`: the customer is opted out of email;
- anything else, or another audience's list id: acknowledged (200) and ignored, so MailChimp
  does not retry or disable the webhook.

A wrong or missing token is a 403 and changes nothing.
"""

from __future__ import annotations

import logging
import secrets

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from apps.core.errors import DomainError
from apps.core.permissions import WEBHOOK, capability
from apps.customers.events import event_record
from apps.customers.services import customer_find, customer_upsert
from apps.messaging.links import partner_url
from apps.messaging.models import Channel, ChannelAccount
from apps.messaging.services import customer_opt_out

logger = logging.getLogger(__name__)

SOURCE = "mailchimp"


# --- services for the channel page ------------------------------------------------------


def mailchimp_webhook_token_ensure(*, account: ChannelAccount) -> str:
    """Give the MailChimp account a webhook token if it has none; returns the token. The
    conditional update keeps the first token when two requests race."""
    if not account.webhook_token:
        ChannelAccount.objects.filter(pk=account.pk, webhook_token="").update(
            webhook_token=secrets.token_urlsafe(32)
        )
        account.refresh_from_db(fields=["webhook_token"])
    return account.webhook_token


def mailchimp_webhook_url(*, account: ChannelAccount) -> str:
    """The absolute URL to paste in MailChimp (Audience › Settings › Webhooks)."""
    token = mailchimp_webhook_token_ensure(account=account)
    return partner_url("hooks:mailchimp", token=token)


# --- the webhook ------------------------------------------------------------------------


def _account_for(token: str) -> ChannelAccount | None:
    account = ChannelAccount.objects.filter(channel=Channel.MAILCHIMP).first()
    if account is None or not account.webhook_token:
        return None
    if not constant_time_compare(token, account.webhook_token):
        return None
    return account


@csrf_exempt
@capability(WEBHOOK)
@require_http_methods(["GET", "POST"])
def mailchimp_webhook(request: HttpRequest, token: str) -> HttpResponse:
    account = _account_for(token)
    if account is None:
        return HttpResponseForbidden("Unknown webhook address.")
    if request.method == "GET":
        return HttpResponse("")  # MailChimp's validation ping
    kind = request.POST.get("type", "")
    list_id = request.POST.get("data[list_id]", "")
    if list_id != str(account.config.get("list_id", "")):
        return HttpResponse("ignored: another audience")
    email = request.POST.get("data[email]", "").strip()
    try:
        validate_email(email)
    except ValidationError:
        return HttpResponse("ignored: no valid email")
    if kind == "subscribe":
        return _subscribe(request, email=email, list_id=list_id)
    if kind == "unsubscribe":
        customer = customer_find(email=email)
        if customer is not None:
            customer_opt_out(customer=customer, channel="email", source=SOURCE)
        return HttpResponse("")
    return HttpResponse("ignored")


def _subscribe(request: HttpRequest, *, email: str, list_id: str) -> HttpResponse:
    first = request.POST.get("data[merges][FNAME]", "").strip()
    last = request.POST.get("data[merges][LNAME]", "").strip()
    name = " ".join(part for part in (first, last) if part)[:200]
    try:
        with transaction.atomic():
            existing = customer_find(email=email)
            data: dict[str, object] = {"email": email, "email_consent": True}
            # A name typed in the portal or sent by the API wins over MailChimp's merge fields.
            if name and (existing is None or not existing.name):
                data["name"] = name
            customer, created = customer_upsert(data=data, source=SOURCE)
            event_record(
                customer=customer,
                type="mailchimp.subscribed",
                payload={"list_id": list_id, "email": email, "new_customer": created},
            )
    except DomainError as exc:
        # A refused customer write is not MailChimp's problem: answering an error would make
        # it retry the same data and eventually disable the webhook.
        logger.warning("MailChimp subscribe of %s not recorded: %s", email, exc)
        return HttpResponse("ignored: customer not saved")
    return HttpResponse("")
