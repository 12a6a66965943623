"""The interface every channel adapter implements, and the errors it raises.

An adapter is built from one channel account's `config` (shown values) and `secrets`
(decrypted credentials). It knows its provider and nothing of outbox rows, campaigns or
distributions: the send job gives it `OutgoingMessage`s and records what comes back.

Errors are split the way the send job needs them:
- `RetryableError`: try again later (network, timeout, 5xx, 429 with its Retry-After);
- `PermanentError`: trying again cannot help (invalid number or address, unsubscribed, 4xx).
Both carry a stable `key` (shown in metrics, grouped in reports) and a `reason` a person
understands ("The number +1555 is not a valid mobile number.").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone


class ChannelError(Exception):
    """A delivery or connection problem, with a stable key and a readable reason."""

    retryable = False

    def __init__(self, key: str, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.key = key
        self.reason = reason
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key!r}, {self.reason!r})"


class RetryableError(ChannelError):
    """Temporary: the send job tries again with backoff (or after `retry_after` seconds)."""

    retryable = True


class PermanentError(ChannelError):
    """Final: the message is marked failed with this reason."""


@dataclass
class OutgoingMessage:
    """What to deliver. Rendered already: adapters never render templates.

    - email: `to` is the address; `subject`, `text`, `html`; `headers` carries
      List-Unsubscribe / List-Unsubscribe-Post.
    - sms: `to` is an E.164 number; `text`; `status_callback` is the absolute URL Twilio
      reports delivery to.
    - mailchimp: `to` is the email address; `payload` = {"merge_field": "COUPON",
      "value": "<code>", "merge_fields": {...extra...}}.
    - intercom: `to` is the email address; `payload` = {"attribute": "coupon_code",
      "value": "<code>", "message": "<optional text>"}.
    """

    id: int
    channel: str
    to: str
    subject: str = ""
    text: str = ""
    html: str = ""
    name: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)
    status_callback: str = ""


@dataclass
class SendResult:
    """What the provider answered for one message. `status` is "sent" (accepted) or
    "delivered" (the provider confirmed delivery synchronously, e.g. an attribute set)."""

    provider_id: str = ""
    status: str = "sent"
    detail: dict[str, Any] = field(default_factory=dict)


class Adapter(Protocol):
    channel: str

    def send(self, message: OutgoingMessage) -> SendResult:
        """Deliver one message; raise RetryableError or PermanentError on failure."""
        ...

    def send_many(
        self, messages: Iterable[OutgoingMessage]
    ) -> Iterator[tuple[OutgoingMessage, SendResult | ChannelError]]:
        """Deliver a batch (one connection where the provider allows it), yielding each
        message with its result or error. A RetryableError that concerns the connection
        itself may be yielded for every remaining message."""
        ...

    def test_connection(self) -> str:
        """Call the provider with the credentials; return what was checked in plain words
        ("Signed in to smtp.example.com as shop@example.com") or raise ChannelError with
        the reason ("The API key was refused: check it in MailChimp › Account › Extras")."""
        ...


class BaseAdapter:
    """Default `send_many`: one `send` per message."""

    channel = ""

    def __init__(self, *, config: dict[str, Any], secrets: dict[str, str]) -> None:
        self.config = config
        self.secrets = secrets

    def send(self, message: OutgoingMessage) -> SendResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def send_many(
        self, messages: Iterable[OutgoingMessage]
    ) -> Iterator[tuple[OutgoingMessage, SendResult | ChannelError]]:
        for message in messages:
            try:
                yield message, self.send(message)
            except ChannelError as exc:
                yield message, exc

    def test_connection(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


def http_error(status: int, reason: str, *, retry_after: float | None = None) -> ChannelError:
    """Map an HTTP status from a provider to the right error class: 429 and 5xx retry,
    every other 4xx is permanent."""
    if status == 429:
        return RetryableError("rate_limited", reason, retry_after=retry_after)
    if status >= 500:
        return RetryableError("provider_unavailable", reason, retry_after=retry_after)
    if status in (401, 403):
        return PermanentError("bad_credentials", reason)
    return PermanentError("rejected", reason)


def provider_busy(
    provider: str, status: int, *, retry_after: float | None, doing: str = ""
) -> RetryableError | None:
    """The error for a provider that is limiting us (429) or failing (5xx), in the words every
    adapter uses; None for any other status."""
    if status == 429:
        return RetryableError(
            "rate_limited",
            f"{provider} is limiting requests (too many at once); trying again later.",
            retry_after=retry_after,
        )
    if status >= 500:
        during = f" while trying to {doing}" if doing else ""
        return RetryableError(
            "provider_unavailable",
            f"{provider} had a problem (HTTP {status}){during}; trying again later.",
            retry_after=retry_after,
        )
    return None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


def checked_email(address: str) -> str:
    """The address, trimmed; a PermanentError when it is not an email address (a provider
    would refuse it anyway, with a less helpful answer)."""

    email = address.strip()
    try:
        validate_email(email)
    except ValidationError:
        raise PermanentError(
            "invalid_address", f"“{email}” is not a valid email address."
        ) from None
    return email
