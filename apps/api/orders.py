"""`POST /v1/orders` (upsert an order) and `POST /v1/events` (record a custom event), in
Voucherify's shapes. Partner keys only. HTTP only: parse strictly, call
apps.customers.orders / events, answer.

The customer reference parsing here (`customer_ref`) is shared with /v1/publications."""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse

from apps.accounts.permissions import API_PARTNER
from apps.api.auth import api_endpoint
from apps.api.errors import ApiError, invalid_payload
from apps.api.idempotency import idempotent
from apps.api.payloads import read_json, reject_unknown, string_field
from apps.api.serializers import iso
from apps.core.errors import DomainError
from apps.core.money import json_kind
from apps.customers.events import event_record
from apps.customers.models import Customer, Order
from apps.customers.orders import (
    CustomerRef,
    customer_public_id,
    customer_resolve,
    order_upsert,
    parse_customer_id,
)

ORDER_FIELDS = frozenset({"id", "source_id", "status", "amount", "items", "metadata", "customer"})
EVENT_FIELDS = frozenset({"event", "customer", "metadata"})
# Custom event names: letters, digits and _ . : - (as Voucherify's examples: cart_abandoned).
EVENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,99}")
# Names our own services record: a custom event may not pose as one of them, because later
# features (automatic distributions) act on them.
RESERVED_PREFIXES = ("order.", "voucher.", "segment.", "customer.", "publication.", "redemption.")
CUSTOMER_EXAMPLE = '{"source_id": "your-customer-id", "email": "ann@example.com"}'


def domain_error(exc: DomainError, resource_type: str = "") -> ApiError:
    extra = {"resource_type": resource_type} if exc.key == "not_found" and resource_type else {}
    return ApiError(exc.http_status, exc.key, exc.message, extra=extra)


def text(data: dict[str, Any], name: str, where: str, *, limit: int = 120) -> str:
    return string_field(data, name, where, limit=limit).strip()


def obj(data: dict[str, Any], name: str, where: str) -> dict[str, Any] | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid_payload(f"“{where}” must be a JSON object, not {json_kind(value)}.")
    return value


def customer_ref(data: dict[str, Any], *, required: bool) -> CustomerRef | None:
    """The body's `customer`: {"id": "cust_12"}, or an object with source_id and/or email
    (plus name and metadata, saved on the customer). A bare string is read as an id or a
    source id."""
    value = data.get("customer")
    if value is None:
        if required:
            raise invalid_payload(
                f"“customer” is missing: send an object such as {CUSTOMER_EXAMPLE}."
            )
        return None
    if isinstance(value, str):
        value = {"id": value} if parse_customer_id(value) is not None else {"source_id": value}
    if not isinstance(value, dict):
        raise invalid_payload(
            f"“customer” must be an object such as {CUSTOMER_EXAMPLE}, not {json_kind(value)}."
        )
    ref = CustomerRef(
        source_id=text(value, "source_id", "customer.source_id"),
        email=text(value, "email", "customer.email", limit=254),
        name=text(value, "name", "customer.name", limit=200),
        metadata=obj(value, "metadata", "customer.metadata"),
    )
    raw_id = text(value, "id", "customer.id", limit=40)
    if raw_id:
        ref.id = parse_customer_id(raw_id)
        if ref.id is None:
            raise ApiError(
                404,
                "not_found",
                f"No customer “{raw_id}” exists: customer ids look like cust_12. To name a "
                "customer by your own id, send it as “customer.source_id”.",
                extra={"resource_type": "customer"},
            )
    if ref.empty:
        raise invalid_payload(
            "“customer” must say who the customer is: send “id” (cust_…), “source_id” or "
            f"“email”, e.g. {CUSTOMER_EXAMPLE}."
        )
    return ref


def resolve(ref: CustomerRef) -> Customer:
    """The customer a reference names (created when missing), or the API error saying why
    not."""
    try:
        return customer_resolve(ref=ref)
    except DomainError as exc:
        raise domain_error(exc, "customer") from None


def customer_json(customer: Customer | None) -> dict[str, Any] | None:
    if customer is None:
        return None
    return {
        "id": customer_public_id(customer),
        "name": customer.name or None,
        "email": customer.email,
        "source_id": customer.source_id,
        "metadata": customer.metadata or {},
        "object": "customer",
    }


def _item_json(item: dict[str, Any]) -> dict[str, Any]:
    body = {"object": "order_item", **item}
    if "amount" in item:
        body["subtotal_amount"] = item["amount"]
    return body


def order_json(order: Order) -> dict[str, Any]:
    customer_id = f"cust_{order.customer_id}" if order.customer_id else None
    return {
        "id": order.public_id,
        "source_id": order.source_id,
        "created_at": iso(order.created_at),
        "updated_at": iso(order.updated_at),
        "status": order.status,
        "amount": order.amount,
        "total_amount": order.amount,
        "items": [_item_json(item) for item in order.items],
        "metadata": order.metadata or {},
        "customer": {"id": customer_id, "object": "customer"} if customer_id else None,
        "customer_id": customer_id,
        "referrer_id": None,
        "object": "order",
    }


def _order(request: HttpRequest) -> HttpResponse:
    data = read_json(request)
    reject_unknown(data, ORDER_FIELDS)
    public_id = text(data, "id", "id", limit=40) or None
    source_id = text(data, "source_id", "source_id") or None
    ref = customer_ref(data, required=False)
    status = data.get("status")
    if status is not None and not isinstance(status, str):
        raise invalid_payload(f"“status” must be a string, not {json_kind(status)}.")
    with transaction.atomic():  # a refused order leaves no customer created for it
        customer = resolve(ref) if ref is not None else None
        try:
            result = order_upsert(
                public_id=public_id,
                source_id=source_id,
                status=status,
                amount=data.get("amount"),
                items=data.get("items"),
                metadata=obj(data, "metadata", "metadata"),
                customer=customer,
            )
        except DomainError as exc:
            raise domain_error(exc, "order") from None
    return JsonResponse(order_json(result.order))


@api_endpoint(API_PARTNER, ("POST",))
def orders(request: HttpRequest) -> HttpResponse:
    """POST /v1/orders: create or update an order (by `id` or `source_id`)."""
    return idempotent(request, lambda: _order(request))


def _event(request: HttpRequest) -> HttpResponse:
    data = read_json(request)
    reject_unknown(data, EVENT_FIELDS)
    name = data.get("event")
    if not isinstance(name, str) or not name.strip():
        raise invalid_payload(
            "“event” is missing: send the event's name, e.g. "
            '{"event": "cart_abandoned", "customer": {"source_id": "your-customer-id"}}.'
        )
    name = name.strip()
    if not EVENT_NAME.fullmatch(name):
        raise ApiError(
            400,
            "invalid_event",
            f"“event” {name[:40]!r} is not a valid name: use 1 to 100 letters, digits and "
            "_ . : - (starting with a letter or digit), e.g. cart_abandoned.",
        )
    if name.lower().startswith(RESERVED_PREFIXES):
        raise ApiError(
            400,
            "invalid_event",
            f"“{name}” is reserved for events this platform records itself "
            f"({', '.join(p + '*' for p in RESERVED_PREFIXES)}). Name your event differently, "
            "e.g. cart_abandoned, and send orders to POST /v1/orders.",
        )
    ref = customer_ref(data, required=True)
    metadata = obj(data, "metadata", "metadata") or {}
    with transaction.atomic():
        customer = resolve(ref)  # type: ignore[arg-type]
        event_record(customer=customer, type=name, payload={"metadata": metadata})
    return JsonResponse(
        {
            "object": "event",
            "type": name,
            "customer": customer_json(customer),
            "referral": None,
            "loyalty": None,
        }
    )


@api_endpoint(API_PARTNER, ("POST",))
def events(request: HttpRequest) -> HttpResponse:
    """POST /v1/events: record a custom event on a customer."""
    return idempotent(request, lambda: _event(request))
