"""Throttling of code guessing: too many failed validations or redemptions from one API key,
merchant or address inside the window locks that identity out until the window ends.
Counters live in Redis, shared by every web process; the key's TTL gives `Retry-After`."""

from __future__ import annotations

import hashlib

import redis
from django.conf import settings

from apps.core.redis import redis_client

# Failures that count as guessing: a code that does not exist or cannot be a code.
GUESS_REASONS = frozenset({"not_found", "invalid_code"})


def _client() -> redis.Redis:
    return redis_client()


def _key(identity: str) -> str:
    return "guess-fail:" + hashlib.sha256(identity.encode()).hexdigest()[:32]


def retry_after(*identities: str) -> int:
    """Seconds until every locked identity may try again, or 0 when none is locked."""
    keys = [_key(i) for i in identities if i]
    if not keys:
        return 0
    pipe = _client().pipeline(transaction=False)
    for key in keys:
        pipe.get(key)
        pipe.ttl(key)
    answers = pipe.execute()
    wait = 0
    for count, ttl in zip(answers[::2], answers[1::2], strict=True):
        if count is not None and int(count) >= settings.GUESS_THROTTLE_FAILURES:
            wait = max(wait, ttl if ttl and ttl > 0 else settings.GUESS_THROTTLE_WINDOW)
    return wait


def record_failure(*identities: str) -> None:
    pipe = _client().pipeline(transaction=False)
    for identity in identities:
        if identity:
            key = _key(identity)
            # The window starts at the first failure. SET NX EX, not EXPIRE NX: the embedded
            # Redis predates 7.0.
            pipe.set(key, 0, ex=settings.GUESS_THROTTLE_WINDOW, nx=True)
            pipe.incr(key)
    pipe.execute()


def reset(*identities: str) -> None:
    keys = [_key(i) for i in identities if i]
    if keys:
        _client().delete(*keys)
