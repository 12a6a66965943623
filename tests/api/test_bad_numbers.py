"""Numbers PostgreSQL cannot store, sent in any API body: a 400 naming the field path and
saying what to send, and nothing stored (apps.core.jsonvalues behind read_json)."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from apps.customers.models import Customer, Event, Order
from apps.redemptions.models import Redemption, RedemptionAttempt

CODE = "NUM-0001"  # as written in BODIES
# Each endpoint's smallest good body, with BAD where one number goes.
BODIES = {
    "/v1/validations": '{"redeemables": [{"object": "voucher", "id": "NUM-0001"}], '
    '"order": {"amount": 100}, "metadata": {"score": BAD}}',
    "/v1/redemptions": '{"redeemables": [{"object": "voucher", "id": "NUM-0001"}], '
    '"order": {"amount": BAD}}',
    "/v1/customers": '{"source_id": "n-1", "metadata": {"score": BAD}}',
    "/v1/orders": '{"source_id": "o-1", "amount": 100, "items": [{"quantity": 1, "price": BAD}]}',
    "/v1/events": '{"event": "cart_abandoned", "customer": {"source_id": "n-1"}, '
    '"metadata": {"score": BAD}}',
    "/v1/publications": '{"campaign": {"name": "x"}, "customer": {"source_id": "n-1"}, '
    '"metadata": {"score": BAD}}',
}
PATHS = {
    "/v1/validations": "metadata.score",
    "/v1/redemptions": "order.amount",
    "/v1/customers": "metadata.score",
    "/v1/orders": "items[0].price",
    "/v1/events": "metadata.score",
    "/v1/publications": "metadata.score",
}
BAD_NUMBERS = [
    ("NaN", "finite number"),
    ("Infinity", "finite number"),
    ("-Infinity", "finite number"),
    ("1e400", "finite number"),
    ("9223372036854775808", "whole numbers must be from"),
    ("-9223372036854775809", "whole numbers must be from"),
    ("9" * 5000, "5,000 digits"),
]


def stored() -> tuple[int, ...]:
    with schema_context("p_alpha"):
        return tuple(
            model.objects.count()
            for model in (Customer, Order, Event, Redemption, RedemptionAttempt)
        )


@pytest.mark.parametrize("endpoint", list(BODIES))
def test_numbers_postgresql_cannot_store_are_400_naming_the_field(client, shop, endpoint):
    # given
    shop.voucher(CODE)
    before = stored()
    for number, words in BAD_NUMBERS:
        # when
        response = client.post(
            endpoint,
            BODIES[endpoint].replace("BAD", number),
            content_type="application/json",
            **shop.partner_key.headers,
        )
        # then
        assert response.status_code == 400, (number, response.content[:300])
        body = response.json()
        assert body["key"] == "invalid_payload"
        assert f"“{PATHS[endpoint]}”" in body["details"], body["details"]
        assert words in body["details"], body["details"]
    assert stored() == before


@pytest.mark.parametrize("endpoint", list(BODIES))
def test_numbers_at_the_bigint_bounds_are_not_refused_as_numbers(client, shop, endpoint):
    # when the same fields hold the largest whole number that can be stored
    response = client.post(
        endpoint,
        BODIES[endpoint].replace("BAD", "9223372036854775807"),
        content_type="application/json",
        **shop.partner_key.headers,
    )
    # then any refusal is the field's own rule (an amount's limit), never the decoder's
    assert response.status_code < 500
    if response.status_code == 400:
        assert "whole numbers must be from" not in response.json()["details"]
