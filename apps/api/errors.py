"""Voucherify-style error bodies: `{"code", "key", "message", "details", "request_id"}`.

Every refusal the API gives goes through `ApiError`, so the shape, the key and the HTTP status
stay the same everywhere, and every body carries the request id that support can look up."""

from __future__ import annotations

import secrets
from typing import Any

from django.http import HttpRequest, JsonResponse

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


def new_request_id() -> str:
    return "v-" + secrets.token_hex(9)


def request_id(request: HttpRequest) -> str:
    rid = getattr(request, "request_id", None)
    if rid is None:
        rid = request.request_id = new_request_id()  # type: ignore[attr-defined]
    return rid


class ApiError(Exception):
    """A refused API request. `details` is the sentence that tells the caller what to do."""

    def __init__(
        self,
        status: int,
        key: str,
        details: str,
        *,
        message: str = "",
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(details)
        self.status = status
        self.key = key
        self.details = details
        self.message = message or TITLES.get(status, "Error")
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self, request: HttpRequest) -> dict[str, Any]:
        return error_body(
            self.status,
            self.key,
            self.message,
            self.details,
            request_id(request),
            **self.extra,
        )

    def response(self, request: HttpRequest) -> JsonResponse:
        response = JsonResponse(self.body(request), status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


def error_body(
    status: int, key: str, message: str, details: str, rid: str, **extra: Any
) -> dict[str, Any]:
    return {
        "code": status,
        "key": key,
        "message": message,
        "details": details,
        "request_id": rid,
        **extra,
    }


def invalid_payload(details: str) -> ApiError:
    return ApiError(400, "invalid_payload", details)
