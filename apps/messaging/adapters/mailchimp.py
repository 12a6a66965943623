"""MailChimp channel: put the code in a merge field of the customer's audience member.

"Sending" through MailChimp means upserting the list member (PUT /lists/{id}/members/{hash},
the subscriber hash being the MD5 of the lower-cased address) with the merge field (e.g.
*|COUPON|*) set to the code; the partner's own MailChimp campaigns and automations then show
it. The call is synchronous, so a success is reported as "delivered".

Uses the official `mailchimp-marketing` SDK. Three of its habits shape this module:
- the request timeout is its `set_config({"timeout": ...})` (default 120 s), not a per-call
  argument (`_request_timeout` is accepted and ignored);
- `ApiClientError` carries the status and body but not the headers, so the adapter keeps the
  last HTTP response to read 429's Retry-After;
- an error without a JSON body (an empty 500, an HTML proxy page with no content type) is
  returned instead of raised, so every answer's status is checked here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import requests
from django.conf import settings
from mailchimp_marketing import Client
from mailchimp_marketing.api_client import ApiClientError

from apps.messaging.adapters import base

API_KEYS_PAGE = "MailChimp › Profile › Extras › API keys"
AUDIENCE_FIELDS_PAGE = "Audience › Settings › Audience fields and *|MERGE|* tags"

# MailChimp's 400 titles for an address it will not (re)subscribe through the API.
_UNSUBSCRIBED_TITLES = ("member in compliance state", "forgotten email not subscribed")


def subscriber_hash(email: str) -> str:
    """MailChimp's member id: the MD5 of the lower-cased address (not a security use)."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


class MailchimpAdapter(base.BaseAdapter):
    channel = "mailchimp"

    def __init__(self, *, config: dict[str, Any], secrets: dict[str, str]) -> None:
        super().__init__(config=config, secrets=secrets)
        self.server = str(config.get("server_prefix", "")).strip()
        self.list_id = str(config.get("list_id", "")).strip()
        # The account's field wins; a message may name one when the account has none.
        self.merge_field = str(config.get("merge_field", "")).strip().upper()
        self._last_response: requests.Response | None = None
        self.client = self._client()

    def _client(self) -> Client:
        client = Client()
        client.set_config(
            {
                "api_key": self.secrets.get("api_key", ""),
                "server": self.server,
                "timeout": settings.MESSAGING_TIMEOUT,
            }
        )
        api = client.api_client
        base = settings.MAILCHIMP_API_BASE_URL.rstrip("/")
        if base:
            # The SDK builds https://server.api.mailchimp.com/3.0 and replaces "server" in the
            # whole URL with the prefix; an empty server turns that replacement off, so a local
            # address is used exactly as given.
            api.host = base if base.endswith("/3.0") else base + "/3.0"
            api.server = ""
        original = api.request

        def request(*args: Any, **kwargs: Any) -> requests.Response:
            response = original(*args, **kwargs)
            self._last_response = response
            return response

        api.request = request
        return client

    # --- sending --------------------------------------------------------------------------

    def send(self, message: base.OutgoingMessage) -> base.SendResult:
        email = base.checked_email(message.to)
        field_name = self.merge_field or str(message.payload.get("merge_field") or "COUPON")
        merge_fields = {**message.payload.get("merge_fields", {})}
        merge_fields[field_name] = str(message.payload.get("value", ""))
        member_id = subscriber_hash(email)
        body = {
            "email_address": email,
            "status_if_new": "subscribed",
            "merge_fields": merge_fields,
        }
        member = self._call(
            self.client.lists.set_list_member, self.list_id, member_id, body, email=email
        )
        status = member.get("status", "") if isinstance(member, dict) else ""
        # An existing member keeps their status: the field is set, but MailChimp will not email
        # an unsubscribed or cleaned address, so the code would never reach them.
        if status == "unsubscribed":
            raise base.PermanentError(
                "unsubscribed",
                f"{email} has unsubscribed from the MailChimp audience; MailChimp will not "
                "send them the code.",
            )
        if status == "cleaned":
            raise base.PermanentError(
                "invalid_address",
                f"MailChimp cleaned {email} from the audience (it bounced); it will not "
                "send them the code.",
            )
        return base.SendResult(
            provider_id=(member.get("id") if isinstance(member, dict) else None) or member_id,
            status="delivered",
            detail={
                "list_id": self.list_id,
                "member_status": status,
                "merge_field": field_name,
            },
        )

    # --- test connection ------------------------------------------------------------------

    def test_connection(self) -> str:
        if not self.merge_field:
            raise base.PermanentError(
                "merge_field_missing", "Name the merge field that receives the code, e.g. COUPON."
            )
        self._call(self.client.ping.get)
        audience = self._call(self.client.lists.get_list, self.list_id)
        name = audience.get("name") or self.list_id
        fields = self._call(self.client.lists.get_list_merge_fields, self.list_id, count=1000).get(
            "merge_fields", []
        )
        found = next((f for f in fields if str(f.get("tag", "")).upper() == self.merge_field), None)
        if found is None:
            raise base.PermanentError(
                "merge_field_missing",
                f"The merge field {self.merge_field} is missing in the audience “{name}”: "
                f"create it in MailChimp ({AUDIENCE_FIELDS_PAGE}) as a text field with the "
                f"tag {self.merge_field}.",
            )
        if found.get("type") not in (None, "text"):
            raise base.PermanentError(
                "merge_field_type",
                f"The merge field {self.merge_field} in “{name}” is a {found.get('type')} "
                "field; codes need a text field. Change its type in MailChimp or use another "
                "field.",
            )
        members = (audience.get("stats") or {}).get("member_count")
        count = f" ({members} members)" if members is not None else ""
        return (
            f"Connected to MailChimp ({self.server}): the audience “{name}”{count} has the "
            f"merge field *|{self.merge_field}|*."
        )

    # --- errors ---------------------------------------------------------------------------

    def _call(self, func: Callable[..., Any], *args: Any, email: str = "", **kwargs: Any) -> Any:
        """One SDK call; every failure becomes a ChannelError with a readable reason."""
        self._last_response = None
        try:
            result = func(*args, **kwargs)
        except ApiClientError as exc:
            raise self._error(exc.status_code, exc.text, email=email) from None
        if isinstance(result, requests.Response):  # the SDK returns what it could not parse
            if not result.ok:
                raise self._error(result.status_code, result.text, email=email)
            try:
                return result.json()
            except ValueError:
                return {}
        return result

    def _error(self, status: int | None, body: Any, *, email: str) -> base.ChannelError:
        if status is None:
            return self._network_error(body)
        problem = _problem(body)
        title = str(problem.get("title", "")).strip()
        detail = str(problem.get("detail", "")).strip()
        said = f" MailChimp said: {detail or title}" if (detail or title) else ""
        retry_after = None
        if self._last_response is not None:
            retry_after = base.parse_retry_after(self._last_response.headers.get("Retry-After"))
        busy = base.provider_busy("MailChimp", status, retry_after=retry_after)
        if busy is not None:
            return busy
        if status in (401, 403):  # the key is wrong, or may not do this
            return base.PermanentError(
                "bad_credentials",
                f"MailChimp refused the API key for server {self.server or '?'}: check the key "
                f"({API_KEYS_PAGE}) and that the server prefix is the part after its dash."
                if status == 401
                else f"MailChimp does not allow this API key to do that.{said}",
            )
        if status == 404:
            return base.PermanentError(
                "unknown_list",
                f"The audience (list) id {self.list_id} does not exist in this MailChimp "
                "account: copy it from Audience › Settings › Audience name and defaults.",
            )
        lowered = title.lower()
        if lowered in _UNSUBSCRIBED_TITLES:
            return base.PermanentError(
                "unsubscribed",
                f"{email or 'This address'} unsubscribed from (or asked to be forgotten by) "
                "the MailChimp audience; MailChimp will not subscribe it again through the "
                "API.",
            )
        if status == 400 and ("fake or invalid" in detail or "valid email" in detail.lower()):
            return base.PermanentError(
                "invalid_address",
                f"MailChimp does not accept {email or 'this address'}: {detail}",
            )
        return base.http_error(status, f"MailChimp refused the request (HTTP {status}).{said}")

    def _network_error(self, cause: Any) -> base.RetryableError:
        host = f"{self.server}.api.mailchimp.com" if self.server else "MailChimp"
        if settings.MAILCHIMP_API_BASE_URL:
            host = settings.MAILCHIMP_API_BASE_URL
        if isinstance(cause, requests.Timeout):
            return base.RetryableError(
                "timeout",
                f"MailChimp did not answer within {settings.MESSAGING_TIMEOUT} s; trying again "
                "later.",
            )
        return base.RetryableError(
            "network",
            f"Could not reach {host} (check the server prefix); trying again later.",
        )


def _problem(body: Any) -> dict[str, Any]:
    """MailChimp answers errors as application/problem+json, which the SDK leaves as text."""
    if isinstance(body, dict):
        return body
    if isinstance(body, str | bytes):
        try:
            parsed = json.loads(body)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}
