"""Voucherify-style error bodies: `{"code", "key", "message", "details", "request_id"}`.

Every refusal the API gives goes through `ApiError`, so the shape, the key and the HTTP status
stay the same everywhere, and every body carries the request id that support can look up."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse

from apps.core.errors import TITLES, error_body, new_request_id


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


def invalid_payload(details: str) -> ApiError:
    return ApiError(400, "invalid_payload", details)
