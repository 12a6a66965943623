"""Orders of a partner's customers (partner schema): upsert by our id or the partner's
source id, with an event on the customer for every change, and the customer reference the
API sends with an order, an event or a publication (`cust_12`, a source id, or an embedded
customer upserted by source id or email).

Events recorded by `order_upsert` (in the same transaction as the change, so an event exists
exactly when the change committed):
- `order.created` when the order is inserted;
- `order.updated` when an existing order changes (a retry with the same body records nothing);
- `order.paid` / `order.canceled` when the status becomes PAID / CANCELED (also on insert).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from apps.core.errors import DomainError
from apps.core.money import MAX_AMOUNT, minor_units
from apps.customers.events import event_record
from apps.customers.models import Customer, Order

CUSTOMER_ID = re.compile(r"cust_([0-9]{1,18})")
ORDER_ID = re.compile(r"ord_[0-9a-f]{1,26}")
MAX_ITEMS = 500
STATUS_EVENTS = {Order.Status.PAID: "order.paid", Order.Status.CANCELED: "order.canceled"}
# Item fields kept as sent (Voucherify's order item); anything else in an item is dropped.
_ITEM_IDS = ("product_id", "sku_id", "source_id")
_ITEM_OBJECTS = ("product", "sku", "metadata")
_ITEM_RELATED = ("product", "sku")


def new_order_id() -> str:
    return "ord_" + secrets.token_hex(10)


def customer_public_id(customer: Customer) -> str:
    return f"cust_{customer.pk}"


def parse_customer_id(value: str) -> int | None:
    """`cust_12` → 12; anything else → None."""
    match = CUSTOMER_ID.fullmatch(value)
    return int(match.group(1)) if match else None


# --- Customer references -------------------------------------------------------------------


@dataclass
class CustomerRef:
    """Who an order, event or publication is about, as the API sends it: our id, or the
    partner's source id and/or email (then the customer is created when missing, and its
    name and metadata updated when sent)."""

    id: int | None = None
    source_id: str = ""
    email: str = ""
    name: str = ""
    metadata: dict[str, Any] | None = None

    @property
    def empty(self) -> bool:
        return self.id is None and not self.source_id and not self.email


def _customer_lookup(ref: CustomerRef) -> Customer | None:
    if ref.source_id:
        found = Customer.objects.filter(source_id=ref.source_id).first()
        if found is not None or not ref.email:
            return found
    return Customer.objects.filter(email__iexact=ref.email).first()


def _customer_refresh(customer: Customer, ref: CustomerRef) -> Customer:
    changed: list[str] = []
    if ref.source_id and customer.source_id is None:
        customer.source_id = ref.source_id
        changed.append("source_id")
    elif ref.source_id and customer.source_id != ref.source_id:
        raise DomainError(
            f"The email {ref.email} already belongs to the customer with source id "
            f"“{customer.source_id}”, not “{ref.source_id}”. Send that source id, or another "
            "email.",
            key="customer_conflict",
            http_status=409,
        )
    if ref.email and not customer.email:
        customer.email = ref.email
        changed.append("email")
    if ref.name and ref.name != customer.name:
        customer.name = ref.name
        changed.append("name")
    if ref.metadata:
        merged = {**customer.metadata, **ref.metadata}
        if merged != customer.metadata:
            customer.metadata = merged
            changed.append("metadata")
    if changed:
        customer.save(update_fields=[*changed, "updated_at"])
    return customer


@transaction.atomic
def customer_resolve(*, ref: CustomerRef) -> Customer:
    """The customer `ref` names: by id (must exist), else by source id or email, created
    when missing. Safe under concurrency: a lost insert race re-reads the winner's row."""
    if ref.id is not None:
        customer = Customer.objects.filter(pk=ref.id).first()
        if customer is None:
            raise DomainError(
                f"No customer cust_{ref.id} exists. Send an id from POST /v1/customers, or the "
                "customer's source_id to create it.",
                key="not_found",
                http_status=404,
            )
        return customer
    if ref.empty:
        raise DomainError(
            "Say who the customer is: send their id (cust_…), source_id or email.",
            key="invalid_customer",
        )
    if ref.email:
        try:
            validate_email(ref.email)
        except ValidationError:
            raise DomainError(
                f"“{ref.email[:80]}” is not an email address; send one such as "
                "ann@example.com, or leave the email out.",
                key="invalid_customer",
            ) from None
    customer = _customer_lookup(ref)
    if customer is None:
        try:
            with transaction.atomic():
                created = Customer.objects.create(
                    source_id=ref.source_id or None,
                    email=ref.email or None,
                    name=ref.name,
                    metadata=ref.metadata or {},
                )
                # As a customer made through POST /v1/customers or the portal would.
                event_record(customer=created, type="customer.created", payload={"source": "api"})
                return created
        except IntegrityError:
            customer = _customer_lookup(ref)
            if customer is None:  # the email is taken under another source id
                raise DomainError(
                    f"The email {ref.email} already belongs to another customer. Send that "
                    "customer's source id, or another email.",
                    key="customer_conflict",
                    http_status=409,
                ) from None
    return _customer_refresh(customer, ref)


# --- Orders --------------------------------------------------------------------------------


def _amount(value: Any, where: str) -> int:
    return minor_units(value, where=f"“{where}”")


def clean_status(value: Any) -> str:
    if value not in Order.Status.values:
        shown = str(value)[:30]
        raise DomainError(
            f"“status” {shown!r} is not an order status; use one of "
            f"{', '.join(Order.Status.values)}.",
            key="invalid_status",
        )
    return value


def _clean_item(item: Any, n: int) -> dict[str, Any]:
    where = f"items[{n}]"
    if not isinstance(item, dict):
        raise DomainError(
            f"“{where}” must be an object such as "
            '{"product_id": "prod_1", "quantity": 2, "price": 1000}.',
            key="invalid_items",
        )
    clean: dict[str, Any] = {}
    for name in _ITEM_IDS:
        value = item.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not value or len(value) > 120:
            raise DomainError(
                f"“{where}.{name}” must be a non-empty string of at most 120 characters.",
                key="invalid_items",
            )
        clean[name] = value
    for name in _ITEM_OBJECTS:
        value = item.get(name)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise DomainError(f"“{where}.{name}” must be an object.", key="invalid_items")
        clean[name] = value
    related = item.get("related_object")
    if related is not None:
        if related not in _ITEM_RELATED:
            raise DomainError(
                f'“{where}.related_object” must be "product" or "sku".', key="invalid_items"
            )
        clean["related_object"] = related
    if not any(name in clean for name in (*_ITEM_IDS, "product", "sku")):
        raise DomainError(
            f"“{where}” does not say what was bought: send product_id, sku_id or source_id.",
            key="invalid_items",
        )
    quantity = item.get("quantity")
    if quantity is not None:
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise DomainError(
                f"“{where}.quantity” must be a whole number of at least 1.", key="invalid_items"
            )
        clean["quantity"] = quantity
    for name in ("price", "amount"):
        if item.get(name) is not None:
            try:
                clean[name] = _amount(item[name], f"{where}.{name}")
            except DomainError as exc:
                raise DomainError(exc.message, key="invalid_items") from None
    if "amount" not in clean and "price" in clean:
        clean["amount"] = min(clean["price"] * clean.get("quantity", 1), MAX_AMOUNT)
    return clean


def clean_items(items: Any) -> list[dict[str, Any]]:
    """Voucherify order items, checked and reduced to the fields we keep."""
    if not isinstance(items, list):
        raise DomainError(
            "“items” must be a list of objects such as "
            '[{"product_id": "prod_1", "quantity": 2, "price": 1000}].',
            key="invalid_items",
        )
    if len(items) > MAX_ITEMS:
        raise DomainError(
            f"An order may have at most {MAX_ITEMS} items; got {len(items)}.", key="invalid_items"
        )
    return [_clean_item(item, n) for n, item in enumerate(items)]


@dataclass
class OrderResult:
    order: Order
    created: bool
    events: list[str] = field(default_factory=list)


def _order_locked(public_id: str | None, source_id: str | None) -> Order | None:
    if public_id:
        if not ORDER_ID.fullmatch(public_id):
            order = None
        else:
            order = Order.objects.select_for_update().filter(public_id=public_id).first()
        if order is None:
            raise DomainError(
                f"No order “{public_id[:40]}” exists. Leave “id” out to create an order, or "
                "use the id a previous call returned (ord_…).",
                key="not_found",
                http_status=404,
            )
        if source_id and order.source_id and order.source_id != source_id:
            raise DomainError(
                f"Order {public_id} has source id “{order.source_id}”, not “{source_id}”. "
                "Send one of the two, or both matching.",
                key="order_conflict",
                http_status=409,
            )
        return order
    if source_id:
        return Order.objects.select_for_update().filter(source_id=source_id).first()
    return None


def _record_events(order: Order, names: list[str], previous_status: str | None) -> None:
    payload = {
        "order_id": order.public_id,
        "source_id": order.source_id,
        "status": order.status,
        "amount": order.amount,
    }
    if previous_status is not None:
        payload["previous_status"] = previous_status
    for name in names:
        event_record(customer=order.customer, type=name, payload=payload)


@transaction.atomic
def order_upsert(
    *,
    public_id: str | None = None,
    source_id: str | None = None,
    status: str | None = None,
    amount: int | None = None,
    items: list[Any] | None = None,
    metadata: dict[str, Any] | None = None,
    customer: Customer | None = None,
) -> OrderResult:
    """Create or update an order. `public_id` (ord_…) must name an existing order;
    `source_id` finds the order or creates it. Only the fields given change; `metadata` is
    merged. When `amount` is left out and items are sent, the amount is their total."""
    if status is not None:
        status = clean_status(status)
    if amount is not None:
        amount = _amount(amount, "amount")
    if items is not None:
        items = clean_items(items)
        if amount is None and any("amount" in item for item in items):
            amount = min(sum(item.get("amount", 0) for item in items), MAX_AMOUNT)
    if metadata is not None and not isinstance(metadata, dict):
        raise DomainError("“metadata” must be an object.", key="invalid_metadata")

    order = _order_locked(public_id, source_id)
    if order is None:
        try:
            with transaction.atomic():
                order = Order.objects.create(
                    public_id=new_order_id(),
                    source_id=source_id or None,
                    customer=customer,
                    status=status or Order.Status.CREATED,
                    amount=amount or 0,
                    items=items or [],
                    metadata=metadata or {},
                )
        except IntegrityError:
            # A concurrent request created this source id first: update that order instead.
            order = _order_locked(None, source_id)
            if order is None:
                raise
        else:
            names = ["order.created"]
            if order.status in STATUS_EVENTS:
                names.append(STATUS_EVENTS[order.status])  # type: ignore[index]
            _record_events(order, names, None)
            return OrderResult(order=order, created=True, events=names)

    previous_status = order.status
    changes: dict[str, Any] = {}
    if source_id and not order.source_id:
        changes["source_id"] = source_id
    if customer is not None and order.customer_id != customer.pk:
        changes["customer"] = customer
    if status is not None and status != order.status:
        changes["status"] = status
    if amount is not None and amount != order.amount:
        changes["amount"] = amount
    if items is not None and items != order.items:
        changes["items"] = items
    if metadata:
        merged = {**order.metadata, **metadata}
        if merged != order.metadata:
            changes["metadata"] = merged
    if not changes:
        return OrderResult(order=order, created=False)
    for name, value in changes.items():
        setattr(order, name, value)
    order.save(update_fields=[*changes, "updated_at"])
    names = ["order.updated"]
    if "status" in changes and order.status in STATUS_EVENTS:
        names.append(STATUS_EVENTS[order.status])  # type: ignore[index]
    _record_events(order, names, previous_status)
    return OrderResult(order=order, created=False, events=names)
