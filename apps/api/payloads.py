"""Reading request bodies and query strings strictly: each problem becomes a 400 whose
sentence names the field and says what to send.

Unknown top-level fields are refused (`invalid_payload` naming the field) rather than ignored,
as Voucherify does for many of them: this API implements a subset, and a field we silently drop
(e.g. a second code, a session lock) would make the caller believe it took effect. Nested
objects (`order`, `customer`, `options`) may carry Voucherify's other fields; we read the ones
listed here and leave the rest alone."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, QueryDict

from apps.api.auth import MAX_BODY_BYTES
from apps.api.errors import ApiError, invalid_payload
from apps.core import jsonvalues
from apps.core.money import AmountError, json_kind, minor_units

REDEEM_FIELDS = frozenset(
    {"redeemables", "order", "customer", "tracking_id", "metadata", "options", "session"}
)
ROLLBACK_FIELDS = frozenset({"reason", "tracking_id", "customer", "order", "metadata"})
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
EXAMPLE = '{"redeemables": [{"object": "voucher", "id": "CODE"}], "order": {"amount": 2599}}'


def read_json(request: HttpRequest, *, optional: bool = False) -> dict[str, Any]:
    """The request body as a JSON object. An empty body is `{}` when `optional`."""
    raw = request.body
    if len(raw) > MAX_BODY_BYTES:  # a chunked body has no Content-Length to check up front
        raise ApiError(
            413, "payload_too_large", f"The request body is larger than {MAX_BODY_BYTES:,} bytes."
        )
    if optional and request.content_type in FORM_TYPES and not request.POST:
        return {}  # e.g. `curl -X POST` or an HTML form with no fields: nothing was sent
    if not raw.strip():
        if optional:
            return {}
        raise invalid_payload(f"The request body is empty; send a JSON object such as {EXAMPLE}.")
    try:
        data = jsonvalues.loads(raw, label="The request body")
    except jsonvalues.JsonValueError as exc:
        raise invalid_payload(exc.explained(f"send a JSON object such as {EXAMPLE}")) from None
    if not isinstance(data, dict):
        raise invalid_payload(
            f"The request body must be a JSON object ({{...}}), not {json_kind(data)}."
        )
    return data


def reject_unknown(data: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise invalid_payload(
            f"Unknown field “{unknown[0][:60]}” in the request body; this API accepts only: "
            f"{', '.join(sorted(allowed))}. Remove it and try again."
        )


def _object(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_payload(f"“{name}” must be a JSON object, not {json_kind(value)}.")
    return value


def string_field(data: dict[str, Any], name: str, where: str, *, limit: int | None = 120) -> str:
    """`data[name]` as a string ("" when absent or null); 400 naming `where` when it is not a
    string or is longer than `limit` characters (None: no limit)."""
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid_payload(f"“{where}” must be a string, not {json_kind(value)}.")
    if limit is not None and len(value) > limit:
        raise invalid_payload(f"“{where}” is too long: at most {limit} characters.")
    return value


@dataclass
class RedeemRequest:
    """A validation or redemption request reduced to what this API acts on."""

    code: str
    order_amount: int | None
    order: dict[str, Any]
    customer_ref: str = ""
    tracking_id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


def order_amount(order: dict[str, Any]) -> int | None:
    amount = order.get("amount")
    if amount is None:
        return None
    try:
        return minor_units(amount, where="“order.amount”")
    except AmountError as exc:
        raise ApiError(400, exc.key, exc.message) from None


def parse_redeem(data: dict[str, Any]) -> RedeemRequest:
    """A Voucherify validation/redemption body with exactly one voucher code."""
    reject_unknown(data, REDEEM_FIELDS)
    if data.get("session") is not None:
        raise invalid_payload(
            "Validation sessions (“session”) are not supported: leave the field out. A code "
            "is reserved only by redeeming it."
        )
    redeemables = data.get("redeemables")
    if not isinstance(redeemables, list) or not redeemables:
        raise invalid_payload(f"Send the code in “redeemables”, e.g. {EXAMPLE}.")
    if len(redeemables) > 1:
        raise invalid_payload(
            f"Send exactly one redeemable: this API checks and redeems one code per request "
            f"(got {len(redeemables)})."
        )
    item = redeemables[0]
    if not isinstance(item, dict):
        raise invalid_payload(
            f'“redeemables[0]” must be an object such as {{"object": "voucher", "id": '
            f'"CODE"}}, not {json_kind(item)}.'
        )
    kind = item.get("object", "voucher")
    if kind != "voucher":
        raise invalid_payload(
            f'“redeemables[0].object” is {json.dumps(kind)[:40]}; only "voucher" codes can be '
            "validated and redeemed here."
        )
    code = item.get("id")
    if code is None:
        raise invalid_payload("“redeemables[0].id” is missing: put the code there.")
    if not isinstance(code, str):
        raise invalid_payload(
            f"“redeemables[0].id” must be a string (the code in quotes), not {json_kind(code)}."
        )
    _object(data, "options")  # accepted (e.g. "expand") but changes nothing here
    order = _object(data, "order")
    customer = _object(data, "customer")
    metadata = _object(data, "metadata")
    customer_ref = string_field(customer, "source_id", "customer.source_id") or string_field(
        customer, "id", "customer.id"
    )
    return RedeemRequest(
        code=code,
        order_amount=order_amount(order),
        order={
            "id": string_field(order, "id", "order.id"),
            "source_id": string_field(order, "source_id", "order.source_id"),
        },
        customer_ref=customer_ref,
        tracking_id=string_field(data, "tracking_id", "tracking_id"),
        metadata=metadata,
    )


@dataclass
class RollbackRequest:
    reason: str
    tracking_id: str


def parse_rollback(data: dict[str, Any], query: QueryDict) -> RollbackRequest:
    """`reason` and `tracking_id` come in the query string (Voucherify) or in the body."""
    reject_unknown(data, ROLLBACK_FIELDS)
    for name in ("customer", "order", "metadata"):
        _object(data, name)
    reason = query.get("reason") or string_field(data, "reason", "reason", limit=200)
    if len(reason) > 200:
        raise invalid_payload("“reason” is too long: at most 200 characters.")
    tracking_id = query.get("tracking_id") or string_field(data, "tracking_id", "tracking_id")
    return RollbackRequest(reason=reason, tracking_id=tracking_id[:120])


def paging(query: QueryDict) -> tuple[int, int]:
    """`limit` (1-100, default 10) and `page` (from 1, default 1), as Voucherify's lists."""
    values = {}
    for name, default, low, high in (("limit", 10, 1, 100), ("page", 1, 1, 10_000)):
        raw = query.get(name)
        if raw is None or raw == "":
            values[name] = default
            continue
        try:
            value = int(raw)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise ApiError(
                400,
                "invalid_param",
                f"“{name}” must be a whole number from {low} to {high:,}; got "
                f"{json.dumps(raw[:20])}.",
            )
        values[name] = value
    return values["limit"], values["page"]
