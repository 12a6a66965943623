"""One shared redis-py client per process for counters and flags (the cache API has no TTL
or SET NX EX, which throttling and job debouncing need)."""

from __future__ import annotations

from functools import cache

import redis
from django.conf import settings


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2)


def redis_client() -> redis.Redis:
    return _client(settings.REDIS_URL)
