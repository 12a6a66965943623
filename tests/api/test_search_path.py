"""The API skips django-tenants' `SET search_path` when the connection is already in the key's
partner schema (apps.core.sql.search_path_checked). These tests hold it to tenant isolation:
the skip happens only when the server's own search_path is the key's partner, whatever
django-tenants believes and whichever partner the previous request on the connection had."""

from __future__ import annotations

import json

import psycopg
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from apps.campaigns.models import Voucher
from apps.redemptions.models import Redemption


def redeem(client, code: str, key):
    body = {"redeemables": [{"object": "voucher", "id": code}], "order": {"amount": 2000}}
    return client.post(
        "/v1/redemptions", data=json.dumps(body), content_type="application/json", **key.headers
    )


def search_path_sets(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SET search_path")]


def server_search_path() -> str:
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute("SELECT current_setting('search_path')")
        return cursor.fetchone()[0]


def test_alternating_partners_each_redeem_only_their_own_codes(client, shop, beta):
    # given two alpha codes and beta's code
    shop.voucher("ALPHA-0001")
    shop.voucher("ALPHA-0002")
    # when requests alternate between the partners on one connection
    answers = [
        redeem(client, "ALPHA-0001", shop.key).status_code,
        redeem(client, beta.code, shop.key).status_code,  # same partner again: no SET
        redeem(client, "ALPHA-0002", beta.key).status_code,  # the other partner
        redeem(client, beta.code, beta.key).status_code,
        redeem(client, "ALPHA-0002", shop.key).status_code,
    ]
    # then each key found only its own partner's codes
    assert answers == [200, 404, 404, 200, 200]
    with schema_context("p_alpha"):
        assert set(Redemption.objects.values_list("voucher__code", flat=True)) == {
            "ALPHA-0001",
            "ALPHA-0002",
        }
    with schema_context("p_beta"):
        assert list(Redemption.objects.values_list("voucher__code", flat=True)) == [beta.code]


def test_second_request_of_a_partner_skips_the_search_path_round_trip(client, shop, beta):
    # given a first alpha request, which leaves the connection in alpha's schema
    shop.voucher("ALPHA-0001")
    shop.voucher("ALPHA-0002")
    assert redeem(client, "ALPHA-0001", shop.key).status_code == 200
    # when alpha redeems again, then beta
    with CaptureQueriesContext(connection) as again:
        second = redeem(client, "ALPHA-0002", shop.key)
    with CaptureQueriesContext(connection) as other:
        third = redeem(client, beta.code, beta.key)
    # then alpha's second request sets no search_path, beta's sets its own
    assert (second.status_code, third.status_code) == (200, 200)
    assert not [sql for sql in search_path_sets(again) if "p_alpha" in sql]
    assert [sql for sql in search_path_sets(other) if '"p_beta"' in sql]


def test_a_connection_left_in_another_schema_is_switched(client, shop, beta):
    # given the server's search_path moved to beta's schema behind django-tenants' back
    # (as after a raw SET, or a request of another kind on this connection)
    shop.voucher("ALPHA-0001")
    assert redeem(client, "ALPHA-0001", shop.key).status_code == 200
    shop.voucher("ALPHA-0002")
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute('SET search_path = "p_beta", "public"')
    assert server_search_path() == "p_beta, public"
    # when alpha's key redeems alpha's code and then tries beta's
    mine = redeem(client, "ALPHA-0002", shop.key)
    theirs = redeem(client, beta.code, shop.key)
    # then the request ran in alpha's schema: alpha's code redeemed there, beta's not found
    assert (mine.status_code, theirs.status_code) == (200, 404)
    with schema_context("p_alpha"):
        assert Voucher.objects.get(code="ALPHA-0002").redeemed_quantity == 1
    with schema_context("p_beta"):
        assert not Redemption.objects.exists()
        assert Voucher.objects.get(code=beta.code).redeemed_quantity == 0
