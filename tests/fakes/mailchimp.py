"""A small local fake of MailChimp's Marketing API, enough for the members upsert the
MailChimp adapter makes and its connection test: the real `mailchimp-marketing` SDK talks to
it over HTTP on 127.0.0.1.

Routes (under /3.0, as MailChimp): GET ping, GET lists/{id}, GET lists/{id}/merge-fields,
PUT lists/{id}/members/{subscriber_hash}. Basic auth: any user name, the API key as password
(what the SDK sends). Errors are answered the way MailChimp does: application/problem+json
with `title`, `status` and `detail`.

A test can make the next N calls fail (`fail_next`) or every upsert of one address
(`fail_for`), and read what was asked (`calls`) and stored (`members`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.served import ServedFake

API_KEY = "0123456789abcdef0123456789abcdef-us21"
LIST_ID = "a1b2c3d4e5"


@dataclass
class Failure:
    status: int
    title: str = ""
    detail: str = ""
    retry_after: str | None = None
    # An empty body with no content type: what a proxy in front of MailChimp may answer.
    empty: bool = False


@dataclass
class Audience:
    name: str
    merge_fields: dict[str, str] = field(default_factory=dict)  # tag -> type


_TITLES = {
    400: "Invalid Resource",
    401: "API Key Invalid",
    404: "Resource Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest()


class FakeMailchimp(ServedFake):
    """Start with `start()` (or as a context manager); `url` is the address to give the
    adapter through settings.MAILCHIMP_API_BASE_URL."""

    def __init__(self, *, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.audiences: dict[str, Audience] = {
            LIST_ID: Audience(
                "Alpha shoppers", {"FNAME": "text", "LNAME": "text", "COUPON": "text"}
            )
        }
        self.members: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str, Any]] = []
        self._next: list[Failure] = []
        self._by_email: dict[str, Failure] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        # Seconds to wait before answering (a slow MailChimp, for timeout tests).
        self.delay = 0.0

    # --- control --------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        title: str = "",
        detail: str = "",
        retry_after: str | None = None,
        empty: bool = False,
    ) -> None:
        """Answer the next `times` calls (any route) with this error."""
        failure = Failure(status, title or _TITLES.get(status, "Error"), detail, retry_after, empty)
        with self._lock:
            self._next.extend([failure] * times)

    def fail_for(self, email: str, status: int, *, title: str = "", detail: str = "") -> None:
        """Answer every upsert of `email` with this error."""
        self._by_email[email.lower()] = Failure(
            status, title or _TITLES.get(status, "Error"), detail
        )

    def add_member(self, email: str, *, status: str = "subscribed", list_id: str = LIST_ID) -> None:
        self.members[(list_id, subscriber_hash(email))] = {
            "id": subscriber_hash(email),
            "email_address": email,
            "status": status,
            "merge_fields": {},
            "list_id": list_id,
        }

    def member(self, email: str, *, list_id: str = LIST_ID) -> dict[str, Any] | None:
        return self.members.get((list_id, subscriber_hash(email)))

    # --- server ---------------------------------------------------------------------------

    # --- the API --------------------------------------------------------------------------

    def handle(self, method: str, path: str, auth: str, body: Any) -> tuple[int, Any, dict]:
        """(status, JSON body or a Failure, extra headers) for one request."""
        with self._lock:
            self.calls.append((method, path, body))
            if self._next:
                return self._failure(self._next.pop(0))
        if not self._authorised(auth):
            return self._failure(
                Failure(
                    401,
                    "API Key Invalid",
                    "Your API key may be invalid, or you've attempted to access the wrong "
                    "datacenter.",
                )
            )
        if method == "GET" and path == "/3.0/ping":
            return 200, {"health_status": "Everything's Chimpy!"}, {}
        match = re.fullmatch(r"/3\.0/lists/([^/]+)(/merge-fields|/members/([0-9a-f]{32}))?", path)
        if not match:
            return self._not_found(path)
        list_id, sub, member_hash = match.groups()
        audience = self.audiences.get(list_id)
        if audience is None:
            return self._not_found(path)
        if method == "GET" and sub is None:
            count = sum(1 for key in self.members if key[0] == list_id)
            return 200, {"id": list_id, "name": audience.name, "stats": {"member_count": count}}, {}
        if method == "GET" and sub == "/merge-fields":
            fields = [
                {"merge_id": i + 1, "tag": tag, "name": tag.title(), "type": kind}
                for i, (tag, kind) in enumerate(audience.merge_fields.items())
            ]
            return 200, {"merge_fields": fields, "list_id": list_id, "total_items": len(fields)}, {}
        if method == "PUT" and member_hash:
            return self._upsert(list_id, member_hash, audience, body or {})
        return self._not_found(path)

    def _upsert(
        self, list_id: str, member_hash: str, audience: Audience, body: dict
    ) -> tuple[int, Any, dict]:
        email = str(body.get("email_address", ""))
        if email.lower() in self._by_email:
            return self._failure(self._by_email[email.lower()])
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            return self._failure(
                Failure(
                    400,
                    "Invalid Resource",
                    f"{email} looks fake or invalid, please enter a real email address.",
                )
            )
        if subscriber_hash(email) != member_hash:
            return self._failure(
                Failure(
                    400, "Invalid Resource", "The email address does not match the subscriber hash."
                )
            )
        with self._lock:
            member = self.members.get((list_id, member_hash))
            if member is None:
                member = {
                    "id": member_hash,
                    "email_address": email,
                    "status": body.get("status") or body.get("status_if_new") or "subscribed",
                    "merge_fields": {},
                    "list_id": list_id,
                }
                self.members[(list_id, member_hash)] = member
            # Unknown merge tags are ignored, as MailChimp does.
            for tag, value in (body.get("merge_fields") or {}).items():
                if tag in audience.merge_fields:
                    member["merge_fields"][tag] = value
            return 200, dict(member), {}

    def _authorised(self, header: str) -> bool:
        if not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except ValueError:
            return False
        return decoded.partition(":")[2] == self.api_key

    def _not_found(self, path: str) -> tuple[int, Any, dict]:
        return self._failure(
            Failure(404, "Resource Not Found", "The requested resource could not be found.")
        )

    def _failure(self, failure: Failure) -> tuple[int, Any, dict]:
        headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
        return failure.status, failure, headers


class _Handler(BaseHTTPRequestHandler):
    fake: FakeMailchimp

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = self.path.split("?", 1)[0]
        status, payload, headers = self.fake.handle(
            method, path, self.headers.get("Authorization", ""), body
        )
        if self.fake.delay:
            time.sleep(self.fake.delay)
        if isinstance(payload, Failure) and payload.empty:
            data, content_type = b"", None
        elif isinstance(payload, Failure):
            problem = {
                "type": "https://mailchimp.com/developer/marketing/docs/errors/",
                "title": payload.title,
                "status": status,
                "detail": payload.detail,
                "instance": "00000000-0000-0000-0000-000000000000",
            }
            data, content_type = json.dumps(problem).encode(), "application/problem+json"
        else:
            data, content_type = json.dumps(payload).encode(), "application/json; charset=utf-8"
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve("GET")

    def do_PUT(self) -> None:  # noqa: N802
        self._serve("PUT")


FakeMailchimp.handler = _Handler
