"""Intercom channel: put the code in a custom attribute of the customer's Intercom contact,
and optionally send them a message from an admin.

For each message: find the contact by email (contacts.search), create it when there is none,
set the configured custom attribute (e.g. `coupon_code`) to the code (contacts.update), and,
when the message has text and the account names a sender admin, create an in-app or email
message (messages.create). Setting the attribute is synchronous, so a message without text is
"delivered"; one with text is "sent" (Intercom accepted it).

Uses the official `python-intercom` 5.x SDK (httpx). Its own retries are turned off
(`max_retries: 0`): retrying belongs to the outbox, which knows the attempts already made.
The API version is pinned to the one our contract tests use, since a workspace's default may
be older than the contacts API.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
from django.conf import settings
from intercom import (
    CreateContactRequestWithEmail,
    CreateMessageRequest_Email,
    CreateMessageRequest_Inapp,
    CreateMessageRequestFrom,
    CreateMessageRequestTo,
    Intercom,
    SingleFilterSearchRequest,
    StartingAfterPaging,
)
from intercom.core.api_error import ApiError
from intercom.core.request_options import RequestOptions

from apps.messaging.adapters import base

API_VERSION = "2.14"
CREDENTIALS_PAGE = "Intercom Developer Hub › your app › Authentication"
# Intercom's 409 on create names the contact that already exists.
_EXISTING_ID = re.compile(r"id=([0-9a-f]{6,})", re.IGNORECASE)


class IntercomAdapter(base.BaseAdapter):
    channel = "intercom"

    def __init__(self, *, config: dict[str, Any], secrets: dict[str, str]) -> None:
        super().__init__(config=config, secrets=secrets)
        self.attribute = str(config.get("attribute", "")).strip()
        self.admin_id = str(config.get("admin_id", "") or "").strip()
        self.message_type = config.get("message_type") or "inapp"
        self.options: RequestOptions = {"max_retries": 0}
        # One client (one httpx connection pool) for the whole batch a send job gives us.
        self.client = Intercom(
            token=self.secrets.get("access_token", ""),
            base_url=settings.INTERCOM_API_BASE_URL or None,
            headers={"Intercom-Version": API_VERSION},
            timeout=settings.MESSAGING_TIMEOUT,
        )

    # --- sending --------------------------------------------------------------------------

    def send(self, message: base.OutgoingMessage) -> base.SendResult:
        email = base.checked_email(message.to)
        attribute = self.attribute or str(message.payload.get("attribute") or "")
        if not attribute:
            raise base.PermanentError(
                "misconfigured", "Name the Intercom contact attribute that receives the code."
            )
        contact_id, role, created = self._contact(email, name=message.name)
        value = str(message.payload.get("value", ""))
        self._call(
            "set the attribute",
            lambda: self.client.contacts.update(
                contact_id, custom_attributes={attribute: value}, request_options=self.options
            ),
        )
        detail: dict[str, Any] = {
            "contact_id": contact_id,
            "contact_created": created,
            "attribute": attribute,
        }
        text = str(message.payload.get("message") or "").strip()
        if text and self.admin_id:
            sent = self._call("send the message", lambda: self._message(contact_id, role, message))
            detail["message_id"] = getattr(sent, "id", None)
            detail["message_type"] = self.message_type
            return base.SendResult(provider_id=contact_id, status="sent", detail=detail)
        return base.SendResult(provider_id=contact_id, status="delivered", detail=detail)

    def _contact(self, email: str, *, name: str) -> tuple[str, str, bool]:
        """(id, role, created) of the contact with this email, created when missing."""
        page = self._call(
            "find the contact",
            lambda: self.client.contacts.search(
                query=SingleFilterSearchRequest(field="email", operator="=", value=email),
                pagination=StartingAfterPaging(per_page=1),
                request_options=self.options,
            ),
        )
        for contact in page.items or []:
            if contact.id:
                return contact.id, contact.role or "user", False
        request = CreateContactRequestWithEmail(email=email, name=name or None)
        try:
            contact = self.client.contacts.create(request=request, request_options=self.options)
        except ApiError as exc:
            # Search lags behind creation by a few minutes: Intercom then refuses the create
            # and names the contact it already has.
            existing = (
                _EXISTING_ID.search(_error_text(exc.body)) if exc.status_code == 409 else None
            )
            if existing:
                return existing.group(1), "user", False
            raise self._error(exc, doing="create the contact") from None
        except httpx.HTTPError as exc:
            raise _network_error(exc) from None
        if not contact.id:
            raise base.RetryableError("provider_unavailable", "Intercom created no contact id.")
        return contact.id, contact.role or "user", True

    def _message(self, contact_id: str, role: str, message: base.OutgoingMessage) -> Any:
        if not self.admin_id.isdigit():
            raise base.PermanentError(
                "misconfigured",
                f"The sender admin id “{self.admin_id}” is not a number: copy it from the "
                "admin's Intercom profile URL.",
            )
        sender = CreateMessageRequestFrom(id=int(self.admin_id))
        to = CreateMessageRequestTo(
            type=role if role in ("user", "lead") else "user", id=contact_id
        )
        body = str(message.payload["message"])
        request: CreateMessageRequest_Email | CreateMessageRequest_Inapp
        if self.message_type == "email":
            request = CreateMessageRequest_Email(
                subject=message.subject or "Your code",
                body=body,
                template="plain",
                from_=sender,
                to=to,
            )
        else:
            # API 2.14's schema names the type `in_app`; the SDK's model is fixed to the older
            # `inapp`, which the schema rejects (found by the Prism contract test). model_copy
            # changes the value without the model's validation; the SDK serialises it as is.
            request = CreateMessageRequest_Inapp(body=body, from_=sender, to=to).model_copy(
                update={"message_type": "in_app"}
            )
        return self.client.messages.create(request=request, request_options=self.options)

    # --- test connection ------------------------------------------------------------------

    def test_connection(self) -> str:
        me = self._call(
            "identify the token's admin",
            lambda: self.client.admins.identify(request_options=self.options),
        )
        if me is None:
            raise base.PermanentError(
                "bad_credentials", "Intercom did not say whom this token is for."
            )
        workspace = getattr(me.app, "name", None) or "your workspace"
        who = me.name or me.email or f"admin {me.id}"
        sends = (
            f" Messages go as admin {self.admin_id} ({self.message_type})."
            if self.admin_id
            else " No sender admin: only the attribute is set."
        )
        return (
            f"Connected to Intercom workspace “{workspace}” as {who}; codes go to the contact "
            f"attribute “{self.attribute}”.{sends}"
        )

    # --- errors ---------------------------------------------------------------------------

    def _call(self, doing: str, func: Any) -> Any:
        try:
            return func()
        except ApiError as exc:
            raise self._error(exc, doing=doing) from None
        except httpx.HTTPError as exc:
            raise _network_error(exc) from None

    def _error(self, exc: ApiError, *, doing: str) -> base.ChannelError:
        status = exc.status_code
        said = _error_text(exc.body)
        said = f" Intercom said: {said}" if said else ""
        if status is None:
            return base.PermanentError("rejected", f"Intercom could not {doing}.{said}")
        retry_after = base.parse_retry_after((exc.headers or {}).get("retry-after"))
        if status == 429:
            # Intercom's limit headers say when the window resets (epoch seconds).
            reset = (exc.headers or {}).get("x-ratelimit-reset")
            if retry_after is None and reset and reset.isdigit():
                retry_after = max(0.0, int(reset) - time.time())
        busy = base.provider_busy("Intercom", status, retry_after=retry_after, doing=doing)
        if busy is not None:
            return busy
        if status in (401, 403):  # the token is wrong, or lacks the permission
            return base.PermanentError(
                "bad_credentials",
                f"Intercom refused the access token: check it in {CREDENTIALS_PAGE}."
                if status == 401
                else f"The Intercom token is not allowed to {doing}: give the app that "
                f"permission in the Developer Hub.{said}",
            )
        return base.http_error(status, f"Intercom refused to {doing} (HTTP {status}).{said}")


def _network_error(exc: httpx.HTTPError) -> base.RetryableError:
    if isinstance(exc, httpx.TimeoutException):
        return base.RetryableError(
            "timeout",
            f"Intercom did not answer within {settings.MESSAGING_TIMEOUT} s; trying again later.",
        )
    return base.RetryableError("network", "Could not reach Intercom; trying again later.")


def _error_text(body: Any) -> str:
    """The first error message of an Intercom error body (a model, a dict or text)."""
    if body is None:
        return ""
    if hasattr(body, "errors"):
        errors = body.errors or []
        return "; ".join(e.message or e.code for e in errors)[:300]
    if isinstance(body, dict):
        errors = body.get("errors") or []
        if errors and isinstance(errors[0], dict):
            return "; ".join(str(e.get("message") or e.get("code")) for e in errors)[:300]
        return str(body.get("message", ""))[:300]
    return str(body)[:300]
