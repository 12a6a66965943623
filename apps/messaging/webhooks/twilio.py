"""Twilio webhooks, under /p/<partner>/hooks/twilio/:

- `status/` (`hooks:twilio_status`): the status callback every message carries. MessageSid and
  MessageStatus move the outbox row: delivered → delivered; failed / undelivered → failed with
  Twilio's ErrorCode in the reason; queued / sending / sent → sent. A late report never moves a
  message back (`outbox_provider_status` ranks them).
- `inbound/` (`hooks:twilio_inbound`): the number's "A message comes in" webhook. STOP (and
  Twilio's other opt-out words) opts the customers with that phone number out of SMS; START
  opts them back in. The answer is empty TwiML: Twilio itself sends the opt-out confirmation.

Both verify `X-Twilio-Signature` with the SDK's RequestValidator and the partner's auth token,
over the URL as Twilio called it. Behind a proxy the request's own host and scheme may differ
from that, so the URL is SITE_URL + the path. A missing or wrong signature, or a partner with no
SMS account, is a 403 and changes nothing.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from apps.customers.models import Customer
from apps.messaging.adapters.twilio_sms import delivery_error_reason
from apps.messaging.crypto import SecretsUnreadable, decrypt_secrets
from apps.messaging.links import partner_url
from apps.messaging.models import Channel, ChannelAccount
from apps.messaging.services import customer_opt_in, customer_opt_out, outbox_provider_status
from apps.messaging.webhooks.signed import signed_webhook

logger = logging.getLogger(__name__)

# Twilio's default opt-out and opt-in keywords. A reply counts only when it is exactly one of
# them (any case, surrounding spaces ignored), which is also when Twilio itself starts or stops
# blocking the number, so our consent follows what Twilio will deliver.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})

# Twilio's MessageStatus → ours.
STATUS_MAP = {
    "accepted": "sent",
    "queued": "sent",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "failed",
    "failed": "failed",
}


def inbound_url() -> str:
    """The absolute URL to paste as the number's (or messaging service's) incoming webhook."""
    return partner_url("hooks:twilio_inbound")


def _signed_by_partner(request: HttpRequest) -> bool:
    """True when the request carries a valid signature made with this partner's auth token."""
    signature = request.headers.get("X-Twilio-Signature", "")
    account = ChannelAccount.objects.filter(channel=Channel.SMS).first()
    if not signature or account is None:
        return False
    try:
        token = decrypt_secrets(account.secrets_encrypted).get("auth_token", "")
    except SecretsUnreadable:
        logger.warning("Twilio webhook refused: the SMS account's secrets cannot be decrypted")
        return False
    if not token:
        return False
    url = settings.SITE_URL + request.get_full_path()
    return RequestValidator(token).validate(url, request.POST, signature)


@signed_webhook(_signed_by_partner, "Invalid Twilio signature.")
def twilio_status_callback(request: HttpRequest) -> HttpResponse:
    sid = request.POST.get("MessageSid") or request.POST.get("SmsSid") or ""
    twilio_status = request.POST.get("MessageStatus") or request.POST.get("SmsStatus") or ""
    status = STATUS_MAP.get(twilio_status.strip().lower())
    if not sid or status is None:
        # Statuses we do not track (scheduled, read, canceled…): acknowledged, so Twilio does not
        # report an error for the callback.
        return HttpResponse(status=204)
    error_key = reason = ""
    if status == "failed":
        error_key = "undelivered"
        reason = delivery_error_reason(request.POST.get("ErrorCode", ""))
    outbox_provider_status(provider_id=sid, status=status, error_key=error_key, reason=reason)
    return HttpResponse(status=204)


@signed_webhook(_signed_by_partner, "Invalid Twilio signature.")
def twilio_inbound(request: HttpRequest) -> HttpResponse:
    sender = request.POST.get("From", "").strip()
    word = request.POST.get("Body", "").strip().upper()
    # With Advanced Opt-Out, Twilio names the keyword's meaning (also for custom keywords).
    opt_out_type = request.POST.get("OptOutType", "").strip().upper()
    if sender:
        if opt_out_type == "STOP" or (not opt_out_type and word in STOP_WORDS):
            for customer in Customer.objects.filter(phone=sender):
                customer_opt_out(customer=customer, channel="sms", source="sms_stop")
        elif opt_out_type == "START" or (not opt_out_type and word in START_WORDS):
            for customer in Customer.objects.filter(phone=sender):
                customer_opt_in(customer=customer, channel="sms", source="sms_start")
    return HttpResponse(str(MessagingResponse()), content_type="text/xml")
