"""Fixtures of the messaging tests."""

from __future__ import annotations

import pytest

from apps.core.redis import redis_client


@pytest.fixture(autouse=True)
def _no_leftover_send_flags():
    """A send-job flag left by an earlier test (whose jobs never ran) would stop this test's
    messages from starting their jobs."""
    client = redis_client()
    for key in client.scan_iter("outbox:kick:*"):
        client.delete(key)
