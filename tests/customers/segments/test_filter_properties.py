"""Property tests of the segment filter language: whatever field, operator and value a
request sends, `normalize_filter` refuses it with a FilterError naming the condition, or the
compiled filter runs against partner alpha's schema, within a second, without another error."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.customers.models import Customer
from apps.customers.segments.filters import (
    FIELDS,
    OPERATORS,
    FilterError,
    normalize_filter,
    segment_count,
)

PROPERTIES = settings(
    max_examples=150,
    deadline=1000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

field_names = st.one_of(
    st.sampled_from(sorted(FIELDS)),
    st.builds(lambda key: f"metadata.{key}", st.text(max_size=12)),
    st.text(max_size=10),
)
operators = st.one_of(
    st.sampled_from(sorted({op for ops in OPERATORS.values() for op in ops})), st.text(max_size=6)
)
numbers_as_text = st.builds(
    lambda sign, digits, point, exponent: f"{sign}{digits}{point}{exponent}",
    st.sampled_from(["", "-", "+"]),
    st.text("0123456789", min_size=1, max_size=40),
    st.sampled_from(["", ".", ".5", ".000000000001"]),
    st.one_of(st.just(""), st.integers(-(10**7), 10**7).map(lambda e: f"e{e}")),
)
dates_as_text = st.builds(
    lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}",
    st.integers(0, 99999),
    st.integers(0, 13),
    st.integers(0, 32),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    numbers_as_text,
    dates_as_text,
    st.dates(),
    st.text(max_size=30),
)
values = st.one_of(
    scalars,
    st.lists(st.text(max_size=8), max_size=4),
    st.fixed_dictionaries({"type": st.text(max_size=12), "days": scalars}),
)
conditions = st.fixed_dictionaries({"field": field_names, "op": operators, "value": values})


@pytest.fixture
def a_customer(in_partner):
    Customer.objects.create(
        name="Ann",
        country="DE",
        birthdate=dt.date(1990, 5, 1),
        metadata={"score": "42", "tier": "gold"},
    )


@PROPERTIES
@given(
    match=st.sampled_from(["all", "any", "some"]),
    conditions=st.lists(conditions, min_size=1, max_size=3),
)
def test_any_condition_is_refused_clearly_or_runs_within_a_second(a_customer, match, conditions):
    data = {"match": match, "conditions": conditions}
    started = time.monotonic()
    try:
        clean = normalize_filter(data)
    except FilterError as refusal:
        # then every problem is a sentence naming its condition (or the filter as a whole)
        for index, _, message in refusal.errors:
            assert message and (index is None or message.startswith(f"Condition {index + 1} "))
        assert time.monotonic() - started < 0.1
        return
    # else the canonical form is stable and the filter runs against the database
    assert normalize_filter(clean) == clean
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = 1000")
        assert segment_count(clean) in (0, 1)
    assert time.monotonic() - started < 1
