"""Login throttling: after too many failures for one email or one address inside the window,
further attempts are refused until the window passes. Counters live in Redis (the cache), so
every web process sees the same numbers."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
    return f"login-fail:{kind}:{digest}"


def _keys(email: str, address: str) -> list[str]:
    return [_key("email", email), _key("addr", address)]


def is_locked(email: str, address: str) -> bool:
    limit = settings.LOGIN_THROTTLE_FAILURES
    counts = cache.get_many(_keys(email, address))
    return any(int(value) >= limit for value in counts.values())


def record_failure(email: str, address: str) -> None:
    window = settings.LOGIN_THROTTLE_WINDOW
    for key in _keys(email, address):
        cache.add(key, 0, timeout=window)  # starts the window on the first failure
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)


def retry_after() -> int:
    """Seconds a locked-out sign-in should wait at most (the window a failure starts)."""
    return int(settings.LOGIN_THROTTLE_WINDOW)


def reset(email: str, address: str) -> None:
    cache.delete_many(_keys(email, address))


def client_address(request) -> str:  # type: ignore[no-untyped-def]
    return request.META.get("REMOTE_ADDR", "") or "unknown"
