"""Per-merchant redemption numbers and the attempt log, with failures in plain words."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from apps.redemptions.merchants.selectors import REASON_TEXT, reason_text
from apps.redemptions.models import Channel, RedemptionAttempt
from apps.redemptions.services import (
    Actor,
    RedemptionError,
    redemption_rollback,
    voucher_redeem,
    voucher_validate,
)
from tests.factories import MerchantFactory, UserFactory, VoucherFactory
from tests.redemptions.merchants.conftest import BASE

URL = f"{BASE}redemptions/"


@pytest.fixture
def history(partner_a, shop, campaigns):
    """Corner Shop: 2 redemptions (5.00 + 2.50) and 1 rolled back; Station: 1 (5.00);
    Idle: none; a partner key: 1. Plus failures: a used code, an unknown code."""
    with schema_context(partner_a.schema_name):
        station = MerchantFactory(name="Station", user=UserFactory(), allowed=[campaigns[0]])
        MerchantFactory(name="Idle", user=UserFactory())
        corner = Actor(channel=Channel.WEB, merchant=shop)
        codes = [VoucherFactory(campaign=campaigns[0]).code for _ in range(6)]
        voucher_redeem(actor=corner, code=codes[0])
        voucher_redeem(actor=corner, code=codes[1], order_amount=250)
        undone = voucher_redeem(actor=corner, code=codes[2])
        redemption_rollback(actor=corner, redemption_id=undone.public_id)
        voucher_redeem(actor=Actor(channel=Channel.API, merchant=station), code=codes[3])
        voucher_redeem(actor=Actor(channel=Channel.API, api_key_id=7), code=codes[4])
        for code in (codes[0], "NO-SUCH-CODE"):
            with pytest.raises(RedemptionError):
                voucher_redeem(actor=corner, code=code)
        voucher_validate(actor=Actor(merchant=station), code=codes[5])
        return {"station": station, "codes": codes}


def test_numbers_per_merchant_in_one_aggregate_query(client, partner_user_a, shop, history):
    # given
    client.force_login(partner_user_a)
    # when
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL)
    # then
    assert response.status_code == 200
    rows = {
        (row.merchant.name if row.merchant else None): (
            row.numbers.count,
            row.numbers.discount_total,
        )
        for row in response.context["rows"]
    }
    assert rows == {
        "Corner Shop": (2, 750),
        "Idle": (0, 0),
        "Station": (1, 500),
        None: (1, 500),
    }
    total = response.context["total"]
    assert (total.count, total.discount_total) == (4, 1750)
    summing = [q["sql"] for q in queries if "SUM(" in q["sql"].upper()]
    assert len(summing) == 1
    page = response.content.decode()
    assert "7.50" in page and "17.50" in page
    assert "Partner keys (no merchant)" in page


def test_attempt_log_explains_failures_in_plain_words(client, partner_user_a, history):
    # given
    client.force_login(partner_user_a)
    # when
    response = client.get(URL)
    # then
    attempts = [a for a, _, _ in response.context["attempts"]]
    assert attempts[0].action == "validate"  # newest first
    assert len(attempts) == 9
    page = response.content.decode()
    assert "The code had already been used up." in page
    assert "No such code exists." in page


def test_attempt_log_filters_by_merchant_result_and_action(client, partner_user_a, shop, history):
    # given
    client.force_login(partner_user_a)
    # when
    failed = client.get(URL, {"merchant": shop.pk, "result": "failed"})
    station_checks = client.get(URL, {"merchant": history["station"].pk, "action": "validate"})
    rollbacks = client.get(URL, {"action": "rollback", "result": "ok"})
    junk = client.get(URL, {"merchant": "abc", "result": "maybe", "action": "delete"})
    # then
    assert [(a.ok, a.reason) for a, _, _ in failed.context["attempts"]] == [
        (False, "not_found"),
        (False, "quantity_exceeded"),
    ]
    assert [a.action for a, _, _ in station_checks.context["attempts"]] == ["validate"]
    assert [a.action for a, _, _ in rollbacks.context["attempts"]] == ["rollback"]
    assert junk.status_code == 200 and len(junk.context["attempts"]) == 9


def test_attempt_log_pages_newest_first(client, partner_user_a, partner_a, shop, monkeypatch):
    # given 60 attempts
    with schema_context(partner_a.schema_name):
        RedemptionAttempt.objects.bulk_create(
            RedemptionAttempt(
                action="validate", code=f"C{i}", merchant=shop, channel="web", ok=True
            )
            for i in range(60)
        )
    client.force_login(partner_user_a)
    # when
    first = client.get(URL)
    older = client.get(URL, {"after": first.context["page"].next_after})
    # then
    assert [a.code for a, _, _ in first.context["attempts"]][:2] == ["C59", "C58"]
    assert [a.code for a, _, _ in older.context["attempts"]] == [f"C{i}" for i in range(9, -1, -1)]
    assert "Older" in first.content.decode() and "Newer" in older.content.decode()


def test_htmx_filter_returns_only_the_log(client, partner_user_a, history):
    # given
    client.force_login(partner_user_a)
    # when
    response = client.get(URL, {"result": "failed"}, headers={"HX-Request": "true"})
    # then
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="attempt-log">')
    assert "Per merchant" not in body


def test_attempt_log_exports_as_csv(client, partner_user_a, shop, history):
    # given
    client.force_login(partner_user_a)
    # when
    response = client.get(f"{URL}attempts.csv", {"merchant": shop.pk, "result": "failed"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    # then
    assert rows[0][:7] == [
        "created_at",
        "merchant",
        "action",
        "code",
        "result",
        "reason",
        "explanation",
    ]
    assert [(r[1], r[2], r[4], r[5], r[6]) for r in rows[1:]] == [
        ("Corner Shop", "redeem", "failed", "not_found", "No such code exists."),
        (
            "Corner Shop",
            "redeem",
            "failed",
            "quantity_exceeded",
            "The code had already been used up.",
        ),
    ]


def test_merchant_detail_shows_its_own_numbers(client, partner_user_a, shop, history):
    # given
    client.force_login(partner_user_a)
    # when
    response = client.get(f"{BASE}{shop.pk}/")
    # then
    numbers = response.context["numbers"]
    assert (numbers.count, numbers.discount_total) == (2, 750)
    assert numbers.last_at is not None
    page = response.content.decode()
    assert 'data-testid="numbers-discount">7.50<' in page
    assert "The code had already been used up." in page


def test_every_reason_key_has_a_sentence():
    # then
    for key in (
        "not_found",
        "quantity_exceeded",
        "voucher_expired",
        "voucher_not_active",
        "outside_valid_window",
        "voucher_disabled",
        "merchant_not_allowed",
        "invalid_code",
        "invalid_amount",
        "missing_amount",
    ):
        assert REASON_TEXT[key].endswith(".")
    assert reason_text("something_new") == "Refused (something new)."
    assert reason_text("") == ""


def test_numbers_page_is_for_partner_users_not_merchants(client, merchant_a, brand_admin):
    # when / then
    client.force_login(merchant_a)
    assert client.get(URL).status_code == 403
    client.force_login(brand_admin)
    assert client.get(URL).status_code == 200


def test_empty_numbers_page_says_what_appears(client, partner_user_a):
    # given
    client.force_login(partner_user_a)
    # when
    page = client.get(URL).content.decode()
    # then
    assert "No merchants yet" in page and "No attempts yet" in page
