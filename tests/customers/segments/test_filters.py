"""The segment filter compiler: every field type and operator against real rows in partner
alpha's schema, and every kind of bad filter refused with a sentence naming the condition."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.customers.models import Customer, Event, Order, Publication
from apps.customers.segments.filters import (
    FilterError,
    compile_filter,
    normalize_filter,
    segment_count,
    segment_queryset,
    segment_sample,
)
from tests.factories import CampaignFactory, VoucherFactory

DAY = dt.timedelta(days=1)


def f(*conditions, match="all"):
    return {
        "match": match,
        "conditions": [
            {"field": c[0], "op": c[1], "value": c[2] if len(c) > 2 else None} for c in conditions
        ],
    }


@pytest.fixture
def people(partner_a):
    """Ann (DE, orders, codes), Bob (FR, one canceled order), Cid (no orders, no email)."""
    now = timezone.now()
    with schema_context(partner_a.schema_name):
        ann = Customer.objects.create(
            name="Ann Smith",
            email="ann@example.test",
            phone="+4915100000001",
            source_id="A-1",
            city="Berlin",
            country="DE",
            postal_code="10115",
            birthdate=dt.date(1990, 5, 1),
            metadata={"tier": "gold", "score": 42, "note": "50%_off fan"},
            email_consent=True,
        )
        bob = Customer.objects.create(
            name="Bob Stone",
            email="BOB@example.test",
            source_id="B-2",
            city="Paris",
            country="FR",
            postal_code="75001",
            birthdate=dt.date(1985, 1, 31),
            metadata={"tier": "silver", "score": "7"},
            sms_consent=True,
        )
        cid = Customer.objects.create(name="Cid", country="DE", metadata={"score": "n/a"})
        Customer.objects.filter(pk=cid.pk).update(created_at=now - 40 * DAY)
        for amount, status, ago in (
            (3000, "PAID", 2),
            (2000, "CREATED", 10),
            (9999, "CANCELED", 1),
        ):
            order = Order.objects.create(
                public_id=f"ord_a{amount}", customer=ann, amount=amount, status=status
            )
            Order.objects.filter(pk=order.pk).update(created_at=now - ago * DAY)
        order = Order.objects.create(
            public_id="ord_b1", customer=bob, amount=500, status="CANCELED"
        )
        Order.objects.filter(pk=order.pk).update(created_at=now - 100 * DAY)
        spring, autumn = CampaignFactory(name="Spring"), CampaignFactory(name="Autumn")
        for i, (who, campaign, redeemed) in enumerate(
            ((ann, spring, 1), (ann, spring, 0), (bob, autumn, 0), (bob, spring, 1))
        ):
            voucher = VoucherFactory(campaign=campaign, redeemed_quantity=redeemed)
            Publication.objects.create(
                voucher=voucher, campaign=campaign, customer=who, public_id=f"pub_{i}"
            )
        Event.objects.create(customer=ann, type="app.opened")
        old = Event.objects.create(customer=bob, type="app.opened")
        Event.objects.filter(pk=old.pk).update(created_at=now - 30 * DAY)
        yield {"ann": ann, "bob": bob, "cid": cid, "spring": spring, "autumn": autumn}


def names(partner, data) -> set[str]:
    with schema_context(partner.schema_name):
        return {c.name.split()[0] for c in segment_queryset(data)}


CASES = [
    # text columns (case-insensitive), NULL and "" count as not set
    (f(("email", "is", "bob@EXAMPLE.test")), {"Bob"}),
    (f(("email", "is_not", "bob@example.test")), {"Ann", "Cid"}),
    (f(("name", "contains", "ST")), {"Bob"}),
    (f(("name", "contains", "mit")), {"Ann"}),
    (f(("city", "starts_with", "ber")), {"Ann"}),
    (f(("country", "in", "de, xx")), {"Ann", "Cid"}),
    (f(("country", "in", ["FR"])), {"Bob"}),
    (f(("email", "is_set")), {"Ann", "Bob"}),
    (f(("email", "is_not_set")), {"Cid"}),
    (f(("phone", "is_set")), {"Ann"}),
    (f(("source_id", "is", "a-1")), {"Ann"}),
    (f(("postal_code", "starts_with", "75")), {"Bob"}),
    # metadata: text, or number when the operator is numeric; non-numbers never match
    (f(("metadata.tier", "is", "Gold")), {"Ann"}),
    (f(("metadata.tier", "is_not_set")), {"Cid"}),
    (f(("metadata.note", "contains", "50%_")), {"Ann"}),
    (f(("metadata.score", "gt", "10")), {"Ann"}),
    (f(("metadata.score", "lte", 7)), {"Bob"}),
    (f(("metadata.score", "ne", 7)), {"Ann", "Cid"}),
    (f(("metadata.score", "eq", "42")), {"Ann"}),
    # consents
    (f(("email_consent", "is_true")), {"Ann"}),
    (f(("sms_consent", "is_false")), {"Ann", "Cid"}),
    # dates
    (f(("birthdate", "before", "1990-01-01")), {"Bob"}),
    (f(("birthdate", "after", "1990-04-30")), {"Ann"}),
    (f(("birthdate", "after", "1990-05-01")), set()),
    (f(("birthdate", "is_set")), {"Ann", "Bob"}),
    (f(("created_at", "in_last_days", 30)), {"Ann", "Bob"}),
    (f(("created_at", "before", (timezone.localdate() - 30 * DAY).isoformat())), {"Cid"}),
    # order aggregates: count and last date over all orders, total without canceled ones
    (f(("orders_count", "eq", 3)), {"Ann"}),
    (f(("orders_count", "gte", 1)), {"Ann", "Bob"}),
    (f(("orders_count", "lt", 1)), {"Cid"}),
    (f(("orders_count", "is_set")), {"Ann", "Bob"}),
    (f(("total_spent", "gt", 4999)), {"Ann"}),
    (f(("total_spent", "eq", 0)), {"Bob", "Cid"}),
    (f(("total_spent", "ne", 5000)), {"Bob", "Cid"}),
    (f(("last_order_date", "in_last_days", 7)), {"Ann"}),
    (f(("last_order_date", "before", (timezone.localdate() - 50 * DAY).isoformat())), {"Bob"}),
    (f(("last_order_date", "after", (timezone.localdate() - 50 * DAY).isoformat())), {"Ann"}),
    (f(("last_order_date", "is_set")), {"Ann", "Bob"}),
    # publications
    (f(("codes_published", "eq", 2)), {"Ann", "Bob"}),
    (f(("codes_redeemed", "gte", 1)), {"Ann", "Bob"}),
    (f(("codes_redeemed", "lte", 0)), {"Cid"}),
    # events
    (f(("event_in_last_days", "is_true", {"type": "app.opened", "days": 7})), {"Ann"}),
    (f(("event_in_last_days", "is_true", {"type": "app.opened", "days": "31"})), {"Ann", "Bob"}),
    (f(("event_in_last_days", "is_false", {"type": "app.opened", "days": 7})), {"Bob", "Cid"}),
    # AND / OR
    (f(("country", "is", "DE"), ("orders_count", "gt", 0)), {"Ann"}),
    (f(("country", "is", "FR"), ("email", "is_not_set"), match="any"), {"Bob", "Cid"}),
    (f(), {"Ann", "Bob", "Cid"}),
]


@pytest.mark.parametrize(("data", "expected"), CASES, ids=[repr(c[0]["conditions"]) for c in CASES])
def test_each_field_and_operator_against_real_rows(partner_a, people, data, expected):
    # given the three customers  # when  # then
    assert names(partner_a, data) == expected


def test_unredeemed_code_from_a_campaign(partner_a, people):
    # given Ann holds an unredeemed Spring code, Bob only a redeemed one
    spring = people["spring"].pk
    # when / then
    assert names(partner_a, f(("has_unredeemed_code_from", "is", spring))) == {"Ann"}
    assert names(partner_a, f(("has_unredeemed_code_from", "is", str(people["autumn"].pk)))) == {
        "Bob"
    }
    assert names(partner_a, f(("has_unredeemed_code_from", "is_not", spring))) == {"Bob", "Cid"}


def test_count_and_sample_agree_with_the_queryset(partner_a, people):
    # given
    data = f(("country", "is", "DE"))
    with schema_context(partner_a.schema_name):
        # when
        count = segment_count(data)
        sample = segment_sample(data, n=1)
    # then the newest matching customer comes first
    assert count == 2
    assert [c.name for c in sample] == ["Ann Smith"]


def test_the_queryset_is_one_query(partner_a, people):
    # given three conditions, two of them aggregates
    data = f(("country", "is", "DE"), ("total_spent", "gt", 0), ("codes_redeemed", "gt", 0))
    with schema_context(partner_a.schema_name), CaptureQueriesContext(connection) as queries:
        # when
        found = [c.name for c in segment_queryset(data)]
    # then one SELECT (django-tenants may add its SET search_path)
    selects = [q["sql"] for q in queries.captured_queries if "search_path" not in q["sql"]]
    assert found == ["Ann Smith"]
    assert len(selects) == 1, selects


def test_values_travel_as_parameters_never_in_the_sql():
    # given a value made to break out of a string literal
    evil = "x'); DROP TABLE customers_customer; --"
    # when
    sql, params = compile_filter(f(("name", "is", evil), ("metadata.tier", "is", evil)))
    # then
    assert evil not in sql and "tier" not in sql
    assert params == [evil, "tier", evil]
    # and a metadata key outside the safe alphabet is refused
    with pytest.raises(FilterError, match="needs a metadata key of letters"):
        compile_filter(f(("metadata.a'b", "is", "x")))


def test_bad_sql_text_is_harmless_against_the_database(people, in_partner):
    assert segment_count(f(("name", "is", "'; DROP TABLE customers_customer; --"))) == 0
    assert Customer.objects.count() == 3
    assert connection.schema_name == in_partner.schema_name


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (
            {"field": "shoe_size", "op": "is", "value": "9"},
            "Condition 2 (shoe_size) uses an unknown field “shoe_size”",
        ),
        (
            {"field": "email", "op": "gt", "value": "9"},
            "Condition 2 (email) cannot use the operator “gt” on a text field",
        ),
        (
            {"field": "email_consent", "op": "is", "value": "x"},
            "Condition 2 (email_consent) cannot use the operator “is”",
        ),
        (
            {"field": "birthdate", "op": "before", "value": "31/12/1990"},
            "Condition 2 (birthdate) “31/12/1990” is not a date; enter it as YYYY-MM-DD",
        ),
        (
            {"field": "total_spent", "op": "gt", "value": "lots"},
            "Condition 2 (total_spent) “lots” is not a number",
        ),
        (
            {"field": "metadata.score", "op": "gt", "value": "ten"},
            "Condition 2 (metadata.score) “ten” is not a number",
        ),
        (
            {"field": "created_at", "op": "in_last_days", "value": "0"},
            "Condition 2 (created_at) the number of days must be between 1",
        ),
        (
            {"field": "event_in_last_days", "op": "is_true", "value": {"days": 3}},
            "Condition 2 (event_in_last_days) needs an event type",
        ),
        (
            {"field": "has_unredeemed_code_from", "op": "is", "value": "spring"},
            "Condition 2 (has_unredeemed_code_from) needs a campaign",
        ),
        ({"field": "name", "op": "is", "value": "  "}, "Condition 2 (name) needs a value"),
        ({"field": "", "op": "is", "value": "x"}, "Condition 2 (no field) has no field"),
    ],
)
def test_invalid_filters_name_the_condition_and_the_problem(condition, message):
    # given a valid first condition and a bad second one
    data = {
        "match": "all",
        "conditions": [{"field": "name", "op": "is", "value": "Ann"}, condition],
    }
    # when
    with pytest.raises(FilterError) as caught:
        compile_filter(data)
    # then
    assert message in str(caught.value)
    assert [index for index, _, _ in caught.value.errors] == [1]
    assert caught.value.for_condition(1).startswith("Condition 2")


def test_every_bad_condition_is_reported_at_once():
    data = f(
        ("nope", "is", "x"), ("name", "is", "ok"), ("birthdate", "after", "soon"), match="maybe"
    )
    with pytest.raises(FilterError) as caught:
        normalize_filter(data)
    assert [index for index, _, _ in caught.value.errors] == [None, 0, 2]
    assert "Match must be “all” or “any”" in caught.value.general


def test_normalize_gives_the_canonical_form():
    data = f(
        ("total_spent", "gte", " 2500 "),
        ("country", "in", "DE, FR ,"),
        ("birthdate", "before", "1990-01-02"),
        ("email_consent", "is_true", "ignored"),
        ("event_in_last_days", "is_true", {"type": " order.paid ", "days": "14"}),
        ("metadata.score", "gt", "1.50"),
    )
    assert normalize_filter(data)["conditions"] == [
        {"field": "total_spent", "op": "gte", "value": 2500},
        {"field": "country", "op": "in", "value": ["DE", "FR"]},
        {"field": "birthdate", "op": "before", "value": "1990-01-02"},
        {"field": "email_consent", "op": "is_true", "value": None},
        {
            "field": "event_in_last_days",
            "op": "is_true",
            "value": {"type": "order.paid", "days": 14},
        },
        {"field": "metadata.score", "op": "gt", "value": "1.50"},
    ]


def test_a_filter_that_is_not_an_object_is_refused():
    with pytest.raises(FilterError, match="must be an object"):
        normalize_filter(["name"])


# --- bounded values --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "op", "value", "message"),
    [
        # numbers: never a Decimal or int of a huge exponent, a length and a magnitude cap
        ("total_spent", "gt", "1e999999", "“1e999999” is too large; enter a number between"),
        ("orders_count", "eq", "1e5000", "“1e5000” is too large"),
        ("metadata.score", "lt", "-1e19", "“-1e19” is too large"),
        ("codes_published", "gte", "9" * 31, "has a number longer than 30 characters"),
        ("total_spent", "gt", "0.00000000001", "has too many decimal places; use at most 10"),
        ("total_spent", "gt", "1e-999999", "too many decimal places"),
        ("total_spent", "gt", "inf", "“inf” is not a number"),
        ("total_spent", "gt", "1_000", "“1_000” is not a number"),
        ("total_spent", "gt", "٣", "“٣” is not a number"),
        # dates: within 1900–2200 so day arithmetic and the database never overflow
        ("birthdate", "after", "9999-12-31", "“9999-12-31” is out of range; enter a date between"),
        ("last_order_date", "before", "1899-12-31", "between 1900-01-01 and 2200-12-31"),
        ("created_at", "after", "0000-01-01", "“0000-01-01” is not a date"),
        ("created_at", "after", "99999-01-01", "“99999-01-01” is not a date"),
        # days, campaigns and texts are bounded too
        ("created_at", "in_last_days", "9" * 5000, "is not a number of days"),
        ("has_unredeemed_code_from", "is", "9" * 40, "needs a campaign"),
        ("name", "contains", "x" * 1001, "has a text longer than 1,000 characters"),
    ],
)
def test_out_of_range_values_are_refused_quickly_with_what_to_write(field, op, value, message):
    # given a condition whose value is too large, too long or out of range
    data = {"match": "all", "conditions": [{"field": field, "op": op, "value": value}]}
    # when
    started = time.monotonic()
    with pytest.raises(FilterError) as caught:
        normalize_filter(data)
    # then the refusal names the condition and is immediate
    assert time.monotonic() - started < 0.1
    assert str(caught.value).startswith(f"Condition 1 ({field})")
    assert message in str(caught.value)


def test_values_at_the_bounds_are_accepted_and_compile(people, in_partner):
    # given the extreme values that are still accepted
    data = f(
        ("total_spent", "lt", str(2**63 - 1)),
        ("metadata.score", "gt", "-9223372036854775807"),
        ("codes_redeemed", "gte", "0.0000000001"),
        ("birthdate", "after", "1900-01-01"),
        ("last_order_date", "before", "2200-12-31"),
        ("created_at", "after", dt.datetime(2200, 12, 31, 23, 59)),
        ("created_at", "in_last_days", "36500"),
    )
    # when / then they are stored in canonical form and run against the database
    assert normalize_filter(data)["conditions"][5]["value"] == "2200-12-31"
    assert segment_count(data) == 0
