"""`POST /v1/customers` (upsert) and `GET /v1/customers/{id}`, in Voucherify's customer shape.
Partner keys only. HTTP only: parse strictly, call apps.customers.services, answer.

Upsert: a customer with the body's `source_id` is updated, else one with its `email`
(case-insensitively), else a new one is created; the answer is the same `cust_<n>` id either
way. Fields left out (or null, or "") keep their stored value and `metadata` is merged key by
key, so a partial update never erases anything."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from apps.accounts.permissions import API_PARTNER
from apps.api.auth import api_endpoint
from apps.api.errors import ApiError, invalid_payload
from apps.api.idempotency import idempotent
from apps.api.payloads import read_json, reject_unknown, string_field
from apps.api.serializers import iso
from apps.core.money import json_kind
from apps.customers import validators as v
from apps.customers.models import Customer
from apps.customers.orders import customer_public_id, parse_customer_id
from apps.customers.services import CustomerError, customer_upsert

CUSTOMER_FIELDS = frozenset(
    {"source_id", "name", "email", "phone", "birthdate", "birthday", "address", "metadata"}
)
ADDRESS_FIELDS = {
    "line_1": "address_line_1",
    "line_2": "address_line_2",
    "city": "city",
    "postal_code": "postal_code",
    "state": "state",
    "country": "country",
}
EXAMPLE = '{"source_id": "crm-1001", "email": "ann@example.com", "name": "Ann Lee"}'


def _checked(clean: Any, where: str, *args: Any) -> Any:
    try:
        return clean(*args)
    except v.FieldProblem as problem:
        raise invalid_payload(f"“{where}”: {problem.message}") from None


def parse_customer(data: dict[str, Any]) -> dict[str, Any]:
    """The body as the `data` customer_upsert takes: only the fields that carry a value."""
    if "description" in data:
        raise invalid_payload(
            "“description” is not stored by this API; put it in “metadata” instead, e.g. "
            '{"metadata": {"description": "A frequent customer"}}.'
        )
    reject_unknown(data, CUSTOMER_FIELDS)
    out: dict[str, Any] = {}
    source_id = _checked(
        v.clean_source_id, "source_id", string_field(data, "source_id", "source_id", limit=None)
    )
    email = _checked(v.clean_email, "email", string_field(data, "email", "email", limit=None))
    if not source_id and not email:
        raise invalid_payload(
            "Send “source_id” (your id for the customer) or “email”, so that a second call "
            f"updates the same customer instead of creating another, e.g. {EXAMPLE}."
        )
    if source_id:
        out["source_id"] = source_id
    if email:
        out["email"] = email
    name = _checked(
        v.clean_text, "name", string_field(data, "name", "name", limit=None), "name", "The name"
    )
    if name:
        out["name"] = name
    phone = _checked(v.clean_phone, "phone", string_field(data, "phone", "phone", limit=None))
    if phone:
        out["phone"] = phone
    key = "birthdate" if data.get("birthdate") is not None else "birthday"
    birthdate = _checked(v.clean_birthdate, key, string_field(data, key, key, limit=None))
    if birthdate:
        out["birthdate"] = birthdate
    address = data.get("address")
    if address is not None:
        if not isinstance(address, dict):
            raise invalid_payload(f"“address” must be a JSON object, not {json_kind(address)}.")
        reject_unknown(address, frozenset(ADDRESS_FIELDS))
        for name_in, field in ADDRESS_FIELDS.items():
            where = f"address.{name_in}"
            value = _checked(
                v.clean_text,
                where,
                string_field(address, name_in, where, limit=None),
                field,
                f"“{where}”",
            )
            if value:
                out[field] = value
    if data.get("metadata") is not None:
        if not isinstance(data["metadata"], dict):
            raise invalid_payload(
                f"“metadata” must be a JSON object, not {json_kind(data['metadata'])}."
            )
        out["metadata"] = _checked(v.clean_metadata, "metadata", data["metadata"])
    return out


def customer_body(customer: Customer) -> dict[str, Any]:
    """Voucherify's customer object (the fields this API keeps)."""
    return {
        "id": customer_public_id(customer),
        "source_id": customer.source_id,
        "name": customer.name or None,
        "email": customer.email,
        "phone": customer.phone or None,
        "birthdate": customer.birthdate.isoformat() if customer.birthdate else None,
        "address": {
            name_out: getattr(customer, field) or None for name_out, field in ADDRESS_FIELDS.items()
        },
        "metadata": customer.metadata or {},
        "system_metadata": {},
        "created_at": iso(customer.created_at),
        "updated_at": iso(customer.updated_at),
        "object": "customer",
    }


def _upsert(request: HttpRequest) -> HttpResponse:
    data = parse_customer(read_json(request))
    try:
        customer, _created = customer_upsert(data=data, source="api")
    except CustomerError as exc:
        raise ApiError(409, exc.key, exc.message) from None
    customer.refresh_from_db()
    return JsonResponse(customer_body(customer))


@api_endpoint(API_PARTNER, ("POST",))
def customers(request: HttpRequest) -> HttpResponse:
    """POST /v1/customers: create or update a customer (see the module docstring)."""
    return idempotent(request, lambda: _upsert(request))


def customer_lookup(raw: str) -> Customer | None:
    """`cust_12` (our id), else the partner's source id, else a bare number as our id."""
    pk = parse_customer_id(raw)
    if pk is not None:
        return Customer.objects.filter(pk=pk).first()
    found = Customer.objects.filter(source_id=raw).first()
    if found is None and raw.isdigit() and len(raw) <= 18:
        found = Customer.objects.filter(pk=int(raw)).first()
    return found


@api_endpoint(API_PARTNER, ("GET",))
def customer_detail(request: HttpRequest, customer_id: str) -> HttpResponse:
    """GET /v1/customers/{id}: by `cust_…` id or by the partner's source id."""
    customer = customer_lookup(customer_id)
    if customer is None:
        raise ApiError(
            404,
            "not_found",
            f"No customer “{customer_id[:60]}” exists for this key's partner. Use the id "
            "POST /v1/customers answered (cust_…) or your own source_id.",
            extra={"resource_type": "customer", "resource_id": customer_id[:60]},
        )
    return JsonResponse(customer_body(customer))
