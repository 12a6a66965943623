"""A code is never redeemed beyond its limit, under any concurrency (ARCHITECTURE section 6):
50 real HTTP requests at once, from 50 threads, against the live server and real PostgreSQL."""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from collections import Counter
from urllib.parse import urlsplit

import pytest
from django_tenants.utils import schema_context

from apps.campaigns.models import Voucher
from apps.redemptions.models import Redemption, RedemptionAttempt
from tests.conftest import committed_db

pytestmark = [pytest.mark.slow, committed_db()]

CLIENTS = 50


def connect_all(url: str) -> list[http.client.HTTPConnection]:
    """Open CLIENTS connections one after another before anyone sends: the test server's
    listen backlog is 10, and 50 simultaneous connects would be reset by the kernel. Once
    open, each connection has a server thread waiting for its request, so the requests
    themselves all run at the same time."""
    parts = urlsplit(url)
    conns = []
    for _ in range(CLIENTS):
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        conn.connect()
        conns.append(conn)
        time.sleep(0.005)
    return conns


def post(
    conn: http.client.HTTPConnection, path: str, headers: dict[str, str], body: dict
) -> tuple[int, dict]:
    try:
        conn.request(
            "POST", path, json.dumps(body), {**headers, "Content-Type": "application/json"}
        )
        response = conn.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw)
        except ValueError:  # e.g. an HTML server error page: keep it for the failure message
            return response.status, {"key": raw[:200].decode(errors="replace")}
    finally:
        conn.close()


def fire(live_server, headers: dict[str, str], body: dict) -> list[tuple[int, dict]]:
    """CLIENTS threads wait at a barrier, then each sends one redeem request."""
    conns = connect_all(live_server.url)
    barrier = threading.Barrier(CLIENTS)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def client(conn: http.client.HTTPConnection) -> None:
        barrier.wait()
        try:
            answer = post(conn, "/v1/redemptions", headers, body)
        except OSError as exc:  # reported in the outcome instead of lost in a thread
            answer = (0, {"key": repr(exc)})
        with lock:
            results.append(answer)

    threads = [threading.Thread(target=client, args=(conn,)) for conn in conns]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == CLIENTS
    return results


def redeem_at_once(live_server, key, code: str) -> list[tuple[int, dict]]:
    body = {"redeemables": [{"object": "voucher", "id": code}], "order": {"amount": 1000}}
    return fire(live_server, key.http, body)


def outcome(results: list[tuple[int, dict]]) -> Counter:
    return Counter(200 if status == 200 else (status, body.get("key")) for status, body in results)


def assert_attempts_logged(shop, code: str, successes: int) -> None:
    with schema_context("p_alpha"):
        attempts = RedemptionAttempt.objects.filter(
            action=RedemptionAttempt.Action.REDEEM, code=code
        )
        assert attempts.count() == CLIENTS
        assert set(attempts.values_list("merchant_id", "api_key_id", "channel")) == {
            (shop.merchant.pk, shop.key.pk, "api")
        }
        assert Counter(attempts.values_list("ok", "reason")) == Counter(
            {(True, ""): successes, (False, "quantity_exceeded"): CLIENTS - successes}
        )


def test_fifty_concurrent_redeems_of_a_single_use_code_succeed_once(live_server, shop):
    # given a single-use code
    code = "RACE-" + uuid.uuid4().hex[:8].upper()
    shop.voucher(code, limit=1)
    # when 50 tills redeem it at the same moment
    results = redeem_at_once(live_server, shop.key, code)
    # then exactly one succeeds and every other one is told the code is used up
    assert outcome(results) == Counter({200: 1, (400, "quantity_exceeded"): CLIENTS - 1})
    with schema_context("p_alpha"):
        assert Voucher.objects.get(code=code).redeemed_quantity == 1
        assert Redemption.objects.filter(voucher__code=code).count() == 1
    assert_attempts_logged(shop, code, successes=1)


def test_fifty_concurrent_redeems_of_a_limit_5_code_succeed_five_times(live_server, shop):
    # given a code that may be used five times
    code = "RACE5-" + uuid.uuid4().hex[:8].upper()
    shop.voucher(code, limit=5)
    # when
    results = redeem_at_once(live_server, shop.key, code)
    # then
    assert outcome(results) == Counter({200: 5, (400, "quantity_exceeded"): CLIENTS - 5})
    with schema_context("p_alpha"):
        assert Voucher.objects.get(code=code).redeemed_quantity == 5
        assert Redemption.objects.filter(voucher__code=code).count() == 5
    assert_attempts_logged(shop, code, successes=5)


def test_concurrent_retries_with_one_idempotency_key_redeem_once(live_server, shop):
    # given an unlimited code and one Idempotency-Key reused by 50 concurrent retries
    code = "RETRY-" + uuid.uuid4().hex[:8].upper()
    shop.voucher(code, limit=None)
    headers = {**shop.key.http, "Idempotency-Key": str(uuid.uuid4())}
    body = {"redeemables": [{"object": "voucher", "id": code}]}
    # when
    results = fire(live_server, headers, body)
    # then every retry got the same first answer and the code was redeemed once
    assert len(results) == CLIENTS
    assert outcome(results) == Counter({200: CLIENTS})
    assert len({body["redemptions"][0]["id"] for _, body in results}) == 1
    with schema_context("p_alpha"):
        assert Redemption.objects.filter(voucher__code=code).count() == 1
