"""Errors a person can act on: a stable key (as the API's error keys) and a sentence; and the
shape of an error body in JSON (the /v1 API's, also given by the input layer in front of it)."""

from __future__ import annotations

import secrets
from typing import Any

# Short human titles per status, as Voucherify's `message` field (the sentence saying what to
# do goes in `details`).
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Resource not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    429: "Too many requests",
    503: "Service unavailable",
}


class DomainError(Exception):
    """Raised by services; views turn it into a form error, a toast or an API error body."""

    key = "invalid_request"
    http_status = 400

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        details: str = "",
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if key:
            self.key = key
        if http_status:
            self.http_status = http_status
        self.details = details


def new_request_id() -> str:
    return "v-" + secrets.token_hex(9)


def error_body(
    status: int, key: str, message: str, details: str, rid: str, **extra: Any
) -> dict[str, Any]:
    """Voucherify's error shape: `{"code", "key", "message", "details", "request_id"}`."""
    return {
        "code": status,
        "key": key,
        "message": message,
        "details": details,
        "request_id": rid,
        **extra,
    }
