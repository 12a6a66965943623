"""The one JSON decoder (apps.core.jsonvalues): what PostgreSQL cannot store is refused with a
sentence naming the field path; everything else parses as Python's json would."""

from __future__ import annotations

import json

import pytest

from apps.core.jsonvalues import BIGINT_MAX, BIGINT_MIN, MAX_DEPTH, JsonValueError, check, loads

HUGE = "9" * 5000  # past Python's own 4,300-digit limit for int()


@pytest.mark.parametrize(
    ("raw", "path", "words"),
    [
        ('{"score": NaN}', "metadata.score", ["NaN", "finite number"]),
        ('{"a": [1, {"b": Infinity}]}', "metadata.a[1].b", ["Infinity"]),
        ('{"low": -Infinity}', "metadata.low", ["-Infinity"]),
        ('{"x": 1e999}', "metadata.x", ["1e999"]),
        ('{"n": ' + HUGE + "}", "metadata.n", ["5,000 digits", "as a string"]),
        ('{"n": 9223372036854775808}', "metadata.n", ["9,223,372,036,854,775,807"]),
        ('{"n": -9223372036854775809}', "metadata.n", ["-9,223,372,036,854,775,808"]),
        ('{"s": "a\\u0000b"}', "metadata.s", ["NUL"]),
    ],
)
def test_values_postgresql_cannot_store_are_refused_naming_the_field(raw, path, words):
    # when
    with pytest.raises(JsonValueError) as refused:
        loads(raw, root="metadata")
    # then
    assert refused.value.path == path
    assert f"“{path}”" in refused.value.message
    for word in words:
        assert word in refused.value.message
    assert not refused.value.syntax


def test_the_same_values_already_parsed_are_refused_by_check():
    # given what a form or a caller may hold in Python
    for value, path in [
        ({"score": float("nan")}, "metadata.score"),
        ({"a": [{"b": float("-inf")}]}, "metadata.a[0].b"),
        ({"n": 2**63}, "metadata.n"),
        ({"n": 10**5000}, "metadata.n"),
        ({"k\x00": 1}, "metadata"),
        ({"when": object()}, "metadata.when"),
    ]:
        # when / then
        with pytest.raises(JsonValueError) as refused:
            check(value, root="metadata")
        assert refused.value.path == path


def test_values_within_the_limits_parse_unchanged():
    # given
    document = {
        "bounds": [BIGINT_MIN, BIGINT_MAX],
        "float": 1.5e308,
        "tiny": -2.5e-308,
        "text": "tabs\tand ☕",
        "nested": [[{"ok": None, "yes": True}]],
    }
    # when / then
    assert loads(json.dumps(document)) == document
    check(document)


def test_nesting_is_bounded_without_exhausting_the_stack():
    # given
    at_limit = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    over = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    far_over = "[" * 100_000 + "]" * 100_000
    # when / then
    assert loads(at_limit) is not None
    for raw in (over, far_over):
        with pytest.raises(JsonValueError, match="nested too deeply"):
            loads(raw, label="The request body")
    deep: list = []
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(JsonValueError, match="nested too deeply"):
        check(deep)


@pytest.mark.parametrize(
    ("raw", "words"),
    [("{", "not valid JSON: Expecting"), (b"\xff\xfe{", "UTF-8"), (b'"\xff"', "UTF-8")],
)
def test_text_that_is_not_json_is_refused_with_the_place(raw, words):
    # when
    with pytest.raises(JsonValueError) as refused:
        loads(raw, label="The request body")
    # then
    assert refused.value.message.startswith("The request body is not")
    assert words in refused.value.message
