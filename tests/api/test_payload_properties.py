"""Property: whatever JSON an API body holds, the answer is a 2xx or a 4xx with the API's error
body, never a 500. Bodies are built from each endpoint's own field names (so the values reach
the parsers behind them) holding arbitrary JSON values: NaN and infinities, numbers of any size,
strings with NUL and control characters, deep and odd nesting."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

CODE = "PROP-0001"


@dataclass(frozen=True)
class Raw:
    """A number written as is in the JSON text (what json.dumps cannot write: 1e999, a
    5,000-digit whole number)."""

    text: str


def dump(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(dump(v) for v in value) + "]"
    return json.dumps(value)  # NaN and Infinity as Python writes them


raw_numbers = st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "1e999", "-1E400", "-" + "9" * 30, "1e-999"]
).map(Raw) | st.just(5000).map(lambda digits: Raw("9" * digits))
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from([CODE, "prop-0001", "", "cust_1", "camp_1", "PAID", "\x00", "a\x1bb"])
    | raw_numbers
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


def objects(*names: str) -> st.SearchStrategy[dict[str, Any]]:
    """An object holding some of `names` with arbitrary values (and now and then a stranger)."""
    fields = {name: values for name in names}
    return st.fixed_dictionaries({}, optional=fields) | st.dictionaries(
        st.sampled_from([*names, "unknown"]), values, max_size=4
    )


redeemable = objects("object", "id") | st.just({"object": "voucher", "id": CODE})
order = objects("id", "source_id", "amount", "status", "items", "metadata", "customer")
customer = objects("id", "source_id", "email", "name", "phone", "metadata", "address")
BODIES = {
    "/v1/validations": st.fixed_dictionaries(
        {"redeemables": st.lists(redeemable, max_size=2) | values},
        optional={"order": order | values, "customer": customer, "metadata": values},
    ),
    "/v1/redemptions": st.fixed_dictionaries(
        {"redeemables": st.lists(redeemable, min_size=1, max_size=2)},
        optional={"order": order | values, "customer": customer, "metadata": values},
    ),
    "/v1/customers": customer
    | objects("source_id", "birthdate", "birthday", "address", "metadata", "email"),
    "/v1/orders": order | objects("amount", "items", "status", "customer", "metadata"),
}


@pytest.fixture
def api(client, shop, settings):
    # Arbitrary codes are guesses: without a high bar every example after the 20th is a 429.
    settings.GUESS_THROTTLE_FAILURES = 10**9
    shop.voucher(CODE, limit=None)
    return client, shop


def check_answer(response) -> None:
    assert response.status_code < 500, response.content[:500]
    body = response.json()
    if response.status_code >= 400:
        assert set(body) >= {"code", "key", "message", "details", "request_id"}, body
        assert body["code"] == response.status_code
        assert isinstance(body["details"], str) and body["details"]


@pytest.mark.parametrize("endpoint", list(BODIES))
@given(data=st.data())
def test_any_json_body_gets_an_answer_never_a_500(api, endpoint, data):
    # given
    client, shop = api
    key = shop.key if endpoint in ("/v1/validations", "/v1/redemptions") else shop.partner_key
    body = data.draw(BODIES[endpoint], label="body")
    # when
    response = client.post(endpoint, dump(body), content_type="application/json", **key.headers)
    # then
    event(f"HTTP {response.status_code}")
    check_answer(response)
