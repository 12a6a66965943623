"""Intercom webhook: /p/<partner>/hooks/intercom/.

Intercom signs each notification with the app's client secret: `X-Hub-Signature:
sha1=<hex HMAC-SHA1 of the raw body>`. The signature is checked in constant time against the
Intercom account's `client_secret`; a missing or wrong one (or no Intercom account) is a 403
and changes nothing. Topics handled:

- `ping`: Intercom's test notification, answered 200;
- `contact.user.created`, `contact.lead.created`: an `intercom.<topic>` event for the customer
  with that email (no customer is created: Intercom contacts are not consenting customers);
- `contact.unsubscribed`, `contact.user.unsubscribed`: the customer is opted out of email.

Other topics are acknowledged and ignored.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from apps.core import jsonvalues
from apps.customers.events import event_record
from apps.customers.services import customer_find
from apps.messaging.crypto import SecretsUnreadable, decrypt_secrets
from apps.messaging.models import Channel, ChannelAccount
from apps.messaging.services import customer_opt_out
from apps.messaging.webhooks.signed import signed_webhook

SOURCE = "intercom"
CREATED_TOPICS = ("contact.user.created", "contact.lead.created")
UNSUBSCRIBED_TOPICS = ("contact.unsubscribed", "contact.user.unsubscribed")


def intercom_signature(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature` value Intercom sends for `body`."""
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def _client_secret() -> str:
    account = ChannelAccount.objects.filter(channel=Channel.INTERCOM).first()
    if account is None:
        return ""
    try:
        return decrypt_secrets(account.secrets_encrypted).get("client_secret", "")
    except SecretsUnreadable:
        return ""


def signature_valid(request: HttpRequest) -> bool:
    secret = _client_secret()
    given = request.headers.get("X-Hub-Signature", "").strip().lower()
    if not secret or not given:
        return False
    return hmac.compare_digest(given.encode(), intercom_signature(secret, request.body).encode())


@signed_webhook(signature_valid, "Bad or missing X-Hub-Signature.")
def intercom_webhook(request: HttpRequest) -> HttpResponse:
    try:
        notification = jsonvalues.loads(request.body, label="The body")
    except jsonvalues.JsonValueError as exc:
        return HttpResponseBadRequest(exc.message)
    if not isinstance(notification, dict):
        return HttpResponseBadRequest("The body is not a notification.")
    topic = str(notification.get("topic", ""))
    if topic == "ping":
        return HttpResponse("")
    item = _item(notification)
    email = str(item.get("email") or "").strip()
    if topic not in CREATED_TOPICS + UNSUBSCRIBED_TOPICS or not email:
        return HttpResponse("ignored")
    customer = customer_find(email=email)
    if customer is None:
        return HttpResponse("ignored: no such customer")
    if topic in CREATED_TOPICS:
        event_record(
            customer=customer,
            type=f"intercom.{topic}",
            payload={"contact_id": item.get("id"), "role": item.get("role"), "email": email},
        )
    else:
        customer_opt_out(customer=customer, channel="email", source=SOURCE)
    return HttpResponse("")


def _item(notification: dict[str, Any]) -> dict[str, Any]:
    data = notification.get("data")
    item = data.get("item") if isinstance(data, dict) else None
    return item if isinstance(item, dict) else {}
