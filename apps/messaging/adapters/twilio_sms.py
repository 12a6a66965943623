"""SMS through Twilio, with the official `twilio` SDK.

config: `account_sid`, `from_number` (E.164) and/or `messaging_service_sid` (the service wins
when both are set: it picks the sender itself); secrets: `auth_token`.

Every message carries a status callback URL (the message's own, or this partner's
`hooks:twilio_status`), which is how delivered / undelivered reach the outbox. The provider id
is the message SID (SM…).

Errors become RetryableError (network, timeout, 5xx, 429 with its Retry-After) or
PermanentError with a sentence the partner can act on; Twilio's error codes say which
(https://www.twilio.com/docs/api/errors).
"""

from __future__ import annotations

from typing import Any

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from apps.messaging.adapters import base
from apps.messaging.links import partner_url

# Twilio error codes answered to a Messages create (HTTP 400), as (key, reason template). The
# template may use {to} and {sender}.
SEND_ERRORS: dict[int, tuple[str, str]] = {
    21211: ("invalid_number", "{to} is not a valid mobile number."),
    21614: ("invalid_number", "{to} is not a mobile number (a landline cannot receive SMS)."),
    21612: ("unreachable", "Twilio cannot route a message from {sender} to {to}."),
    21610: (
        "unsubscribed",
        "The recipient replied STOP to this sender: Twilio will not deliver to {to} until they "
        "reply START.",
    ),
    21606: (
        "sender_not_allowed",
        "{sender} cannot send SMS to {to}: choose an SMS-capable number for this country in the "
        "SMS channel settings.",
    ),
    21659: (
        "sender_not_allowed",
        "{sender} is not a phone number of this Twilio account: use one of the account's "
        "numbers (Twilio Console › Phone Numbers).",
    ),
    21212: ("sender_not_allowed", "{sender} is not a valid sender number or name."),
    21703: (
        "sender_not_allowed",
        "The messaging service has no phone number to send from: add one in Twilio Console › "
        "Messaging › Services.",
    ),
    21704: (
        "sender_not_allowed",
        "The messaging service has no phone number to send from: add one in Twilio Console › "
        "Messaging › Services.",
    ),
    21608: (
        "unverified_recipient",
        "A Twilio trial account can only send to verified numbers: verify {to} in Twilio or "
        "upgrade the account.",
    ),
    21408: (
        "region_not_allowed",
        "Sending SMS to {to}'s country is not enabled: turn it on in Twilio Console › Messaging "
        "› Settings › Geo permissions.",
    ),
    21617: ("too_long", "The message is longer than Twilio's 1,600 characters."),
    21602: ("empty_message", "The message has no text."),
    20003: (
        "bad_credentials",
        "Twilio refused the account SID or auth token: copy both again from the Twilio Console.",
    ),
}

# Twilio's ErrorCode in a status callback (the message was accepted, then not delivered).
DELIVERY_ERRORS: dict[str, str] = {
    "30001": "Twilio's queue overflowed; the message was not sent.",
    "30002": "The Twilio account was suspended.",
    "30003": "The phone is switched off or out of reach.",
    "30004": "The message was blocked by the recipient or their carrier.",
    "30005": "The number is unknown to the carrier or no longer in service.",
    "30006": "The number is a landline or its carrier cannot receive SMS.",
    "30007": "The carrier filtered the message as spam.",
    "30008": "The carrier reported an unknown error.",
    "21610": "The recipient had replied STOP to this sender.",
}


def delivery_error_reason(error_code: str) -> str:
    """The sentence for a status callback's ErrorCode (the code itself always included)."""
    code = (error_code or "").strip()
    if not code:
        return "Twilio could not deliver the message."
    detail = DELIVERY_ERRORS.get(code, "See https://www.twilio.com/docs/api/errors/" + code)
    return f"Twilio could not deliver the message (error {code}): {detail}"


def status_callback_url() -> str:
    """The absolute status callback URL of the current partner, sent with every message."""
    return partner_url("hooks:twilio_status")


class _HttpClient(TwilioHttpClient):
    """The SDK's HTTP client, keeping the last answer's headers: its exceptions carry status
    and code but not Retry-After."""

    last_headers: dict[str, str]

    def request(self, *args: Any, **kwargs: Any) -> Response:
        self.last_headers = {}
        response = super().request(*args, **kwargs)
        self.last_headers = dict(response.headers or {})
        return response


class TwilioSmsAdapter(base.BaseAdapter):
    channel = "sms"

    def __init__(self, *, config: dict[str, Any], secrets: dict[str, str]) -> None:
        super().__init__(config=config, secrets=secrets)
        self.account_sid = str(config.get("account_sid", "")).strip()
        self.from_number = str(config.get("from_number", "")).strip()
        self.messaging_service_sid = str(config.get("messaging_service_sid", "")).strip()
        self.auth_token = str(secrets.get("auth_token", "")).strip()
        self._client: Client | None = None
        self._http: _HttpClient | None = None
        self._status_callback: str | None = None

    # --- the SDK client ---------------------------------------------------------------------

    def client(self) -> Client:
        """One SDK client per adapter, so a batch reuses its HTTP connection."""
        if not self.account_sid or not self.auth_token:
            raise base.PermanentError(
                "misconfigured",
                "The SMS channel needs a Twilio account SID and auth token: fill them in on "
                "the SMS channel page.",
            )
        if self._client is None:
            self._http = _HttpClient(timeout=settings.MESSAGING_TIMEOUT)
            # environment={}: credentials, region and edge come from the partner's account,
            # never from this process's TWILIO_* variables.
            self._client = Client(
                self.account_sid, self.auth_token, http_client=self._http, environment={}
            )
            if settings.TWILIO_API_BASE_URL:
                # The SDK's documented seam: every Api resource builds its URL from the domain's
                # base_url (tests point it at a Prism mock of the Twilio spec).
                self._client.api.base_url = settings.TWILIO_API_BASE_URL.rstrip("/")
        return self._client

    # --- send -------------------------------------------------------------------------------

    def send(self, message: base.OutgoingMessage) -> base.SendResult:
        client = self.client()
        params: dict[str, Any] = {
            "to": message.to,
            "body": message.text,
            "status_callback": message.status_callback or self.default_status_callback(),
        }
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        elif self.from_number:
            params["from_"] = self.from_number
        else:
            raise base.PermanentError(
                "misconfigured",
                "The SMS channel has no sender: set a phone number or a messaging service.",
            )
        try:
            created = client.messages.create(**params)
        except (requests.RequestException, TwilioException) as exc:
            raise self.translate(exc, to=message.to) from exc
        if not created.sid:
            raise base.PermanentError("rejected", "Twilio accepted the message but returned no id.")
        return base.SendResult(
            provider_id=created.sid,
            status="sent",
            detail={
                "twilio_status": created.status,
                "segments": created.num_segments,
                "from": created.from_,
            },
        )

    def default_status_callback(self) -> str:
        """This partner's status callback URL, looked up once per adapter (one per batch)."""
        if self._status_callback is None:
            self._status_callback = status_callback_url()
        return self._status_callback

    # --- connection test --------------------------------------------------------------------

    def test_connection(self) -> str:
        client = self.client()
        try:
            account = client.api.v2010.accounts(self.account_sid).fetch()
            numbers = []
            if self.from_number:
                numbers = client.api.v2010.accounts(self.account_sid).incoming_phone_numbers.list(
                    phone_number=self.from_number, limit=20
                )
        except (requests.RequestException, TwilioException) as exc:
            raise self.translate(exc, to="") from exc
        name = account.friendly_name or self.account_sid
        if account.status and account.status != "active":
            raise base.PermanentError(
                "account_inactive",
                f"The Twilio account “{name}” is {account.status}: it cannot send messages.",
            )
        said = f"Connected to the Twilio account “{name}”"
        if self.messaging_service_sid:
            return (
                f"{said}; messages go through the messaging service {self.messaging_service_sid}."
            )
        if not self.from_number:
            return f"{said}."
        number = next((n for n in numbers if n.phone_number == self.from_number), None)
        if number is None:
            raise base.PermanentError(
                "sender_not_allowed",
                f"{self.from_number} is not a phone number of the Twilio account “{name}”: "
                "use one listed in Twilio Console › Phone Numbers.",
            )
        if (number.capabilities or {}).get("sms") is False:
            raise base.PermanentError(
                "sender_not_allowed",
                f"{self.from_number} belongs to the account but cannot send SMS: choose an "
                "SMS-capable number.",
            )
        return f"{said}; {self.from_number} is one of its numbers and can send SMS."

    # --- errors -----------------------------------------------------------------------------

    def translate(self, exc: Exception, *, to: str) -> base.ChannelError:
        """Map what the SDK raised (an HTTP error answer, or requests' network errors) to
        RetryableError / PermanentError with a readable reason."""
        if isinstance(exc, requests.Timeout):
            # The issue counts timeouts as retryable. A create whose answer timed out may have
            # gone through (Twilio has no idempotency key for messages): the retry risks one
            # duplicate SMS rather than a coupon that silently never arrives.
            return base.RetryableError(
                "timeout",
                f"Twilio did not answer within {settings.MESSAGING_TIMEOUT} seconds.",
            )
        if isinstance(exc, requests.RequestException):
            return base.RetryableError("network_error", f"Could not reach Twilio ({_short(exc)}).")
        if isinstance(exc, TwilioRestException | TwilioServiceException):
            return self._api_error(exc, to=to)
        return base.PermanentError("misconfigured", f"Twilio client error: {_short(exc)}")

    def _api_error(
        self, exc: TwilioRestException | TwilioServiceException, *, to: str
    ) -> base.ChannelError:
        status = int(exc.status or 0)
        code = int(exc.code) if str(exc.code or "").isdigit() else None
        headers = {k.lower(): v for k, v in (self._http.last_headers if self._http else {}).items()}
        retry_after = base.parse_retry_after(headers.get("retry-after"))
        said = _twilio_message(exc)
        if status == 429 or status >= 500:
            if status == 429:
                reason = "Twilio is limiting the sending rate (too many requests)."
            else:
                reason = f"Twilio is unavailable right now (HTTP {status})."
            return base.http_error(status, reason, retry_after=retry_after)
        if status in (401, 403):
            return base.PermanentError(
                "bad_credentials",
                "Twilio refused the account SID or auth token: copy both again from the "
                "Twilio Console (Account info).",
            )
        if code in SEND_ERRORS:
            key, template = SEND_ERRORS[code]
            sender = self.messaging_service_sid or self.from_number or "The sender"
            return base.PermanentError(key, template.format(to=to or "The number", sender=sender))
        if status == 404:
            return base.PermanentError(
                "not_found", f"Twilio does not know this account or resource ({said})."
            )
        suffix = f" (error {code})" if code else ""
        return base.PermanentError("rejected", f"Twilio refused the message{suffix}: {said}")


def _twilio_message(exc: TwilioRestException | TwilioServiceException) -> str:
    if isinstance(exc, TwilioServiceException):
        text = exc.detail or exc.title or ""
    else:
        # The SDK prefixes "Unable to create record: "; the provider's sentence follows.
        text = str(exc.msg or "").split(": ", 1)[-1]
    return text.strip() or f"HTTP {exc.status}"


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "…"
