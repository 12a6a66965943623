"""Errors a person can act on: a stable key (as the API's error keys) and a sentence."""

from __future__ import annotations


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
