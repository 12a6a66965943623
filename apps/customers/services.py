"""Writes for customers: create and edit from the portal, upsert from the API, and the CSV
import's first two steps (upload, then mapping → background job).

Uniqueness (source ID; email, case-insensitively) is checked first so the person gets a
sentence naming the other customer, and the database constraints stay the backstop for a
concurrent writer: their IntegrityError becomes the same sentence.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from apps.accounts.actors import Actor
from apps.core.errors import DomainError
from apps.core.jobs import enqueue, job_run_create
from apps.customers.events import event_record
from apps.customers.fields import ATTRIBUTES, CHANNELS, consent_columns
from apps.customers.models import Customer, CustomerImport


class CustomerError(DomainError):
    """A refused customer write; `field` names the form field the sentence belongs to."""

    def __init__(self, message: str, *, key: str, field: str | None = None) -> None:
        super().__init__(message, key=key)
        self.field = field


def _duplicate(field: str, sentence: str, holder: Customer | None = None) -> CustomerError:
    """Another customer holds this unique value: the key and the form field to blame follow
    from the field, and the sentence names the other customer when we know who it is."""
    who = f"Another customer ({holder}, #{holder.pk})" if holder is not None else "Another customer"
    return CustomerError(f"{who} {sentence}", key=f"duplicate_{field}", field=field)


# What the refusal says when we know which customer holds the value, per unique field.
_TAKEN = {
    "source_id": "already has the source ID “{value}”; source IDs are unique. "
    "Use another one or edit that customer.",
    "email": "already uses {value}; an email address belongs to one customer only. "
    "Use another address or edit that customer.",
}


def _taken(field: str, value: str, holder: Customer) -> CustomerError:
    return _duplicate(field, _TAKEN[field].format(value=value), holder)


def check_unique(*, source_id: str | None, email: str | None, exclude_pk: int | None) -> None:
    """Raise CustomerError when another customer holds this source ID or email."""
    others = Customer.objects.exclude(pk=exclude_pk) if exclude_pk else Customer.objects.all()
    if source_id:
        holder = others.filter(source_id=source_id).first()
        if holder:
            raise _taken("source_id", source_id, holder)
    if email:
        # Lower(email) = lower(value) is what the unique index holds, so this uses it.
        holder = others.alias(email_ci=Lower("email")).filter(email_ci=email.lower()).first()
        if holder:
            raise _taken("email", email, holder)


def _integrity(exc: IntegrityError, values: dict[str, Any]) -> CustomerError:
    """Map a lost race on a unique constraint to the sentence the pre-check would have given."""
    text = str(exc)
    if "customer_email_unique_ci" in text:
        return _duplicate("email", f"already uses {values.get('email')}; use another address.")
    if "source_id" in text:
        return _duplicate("source_id", f"already has the source ID “{values.get('source_id')}”.")
    raise exc


def _apply_consent(customer: Customer, channel: str, given: bool | None, source: str) -> bool:
    """Set or clear one channel's consent. Giving it records who (source) and when; a consent
    that is already given keeps its original source and time; clearing clears both. None means
    "not said" and changes nothing. Returns whether anything changed."""
    if given is None or given == getattr(customer, f"{channel}_consent"):
        return False
    setattr(customer, f"{channel}_consent", given)
    setattr(customer, f"{channel}_consent_source", source if given else "")
    setattr(customer, f"{channel}_consent_at", timezone.now() if given else None)
    return True


def _normalised(data: dict[str, Any]) -> dict[str, Any]:
    values = {name: data[name] for name in ATTRIBUTES if name in data}
    # NULL, not "", for missing unique values: the unique indexes must not see "" twice.
    for name in ("source_id", "email"):
        if name in values and not values[name]:
            values[name] = None
    return values


@transaction.atomic
def customer_create(
    *, data: dict[str, Any], consent_source: str = "portal", event_source: str = "portal"
) -> Customer:
    values = _normalised(data)
    check_unique(source_id=values.get("source_id"), email=values.get("email"), exclude_pk=None)
    customer = Customer(**values)
    for channel in CHANNELS:
        _apply_consent(customer, channel, data.get(f"{channel}_consent"), consent_source)
    try:
        with transaction.atomic():
            customer.save()
    except IntegrityError as exc:
        raise _integrity(exc, values) from None
    event_record(customer=customer, type="customer.created", payload={"source": event_source})
    return customer


@transaction.atomic
def customer_update(
    *,
    customer: Customer,
    data: dict[str, Any],
    consent_source: str = "portal",
    event_source: str = "portal",
) -> Customer:
    """Change the fields present in `data`; fields left out keep their value. Locks the row
    so two editors do not interleave half-changes."""
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    values = _normalised(data)
    check_unique(source_id=values.get("source_id"), email=values.get("email"), exclude_pk=locked.pk)
    changed = [name for name, value in values.items() if getattr(locked, name) != value]
    for name in changed:
        setattr(locked, name, values[name])
    for channel in CHANNELS:
        if _apply_consent(locked, channel, data.get(f"{channel}_consent"), consent_source):
            changed += consent_columns(channel)
    if changed:
        try:
            with transaction.atomic():
                locked.save(update_fields=[*changed, "updated_at"])
        except IntegrityError as exc:
            raise _integrity(exc, values) from None
        event_record(
            customer=locked,
            type="customer.updated",
            payload={"source": event_source, "fields": sorted(set(changed))},
        )
    return locked


def customer_find(*, source_id: str | None = None, email: str | None = None) -> Customer | None:
    """The customer with this source ID, else with this email (case-insensitive)."""
    if source_id:
        found = Customer.objects.filter(source_id=source_id).first()
        if found or not email:
            return found
    if email:
        return (
            Customer.objects.alias(email_ci=Lower("email")).filter(email_ci=email.lower()).first()
        )
    return None


def customer_upsert(*, data: dict[str, Any], source: str = "api") -> tuple[Customer, bool]:
    """Create or update by source ID, else by email (the API's POST /v1/customers). Metadata
    is merged key by key, so a partial update never drops keys it did not mention. Returns
    (customer, created). A concurrent create of the same person makes our insert fail on the
    unique index; we then update the row the other request made."""
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                existing = customer_find(source_id=data.get("source_id"), email=data.get("email"))
                if existing is None:
                    return customer_create(
                        data=data, consent_source=source, event_source=source
                    ), True
                wanted = data.get("source_id")
                if existing.source_id and wanted and existing.source_id != wanted:
                    # Found by email, but that person is known under another source ID.
                    raise _taken("email", data.get("email") or "", existing)
                changes = dict(data)
                if "metadata" in changes:
                    changes["metadata"] = {**existing.metadata, **changes["metadata"]}
                return customer_update(
                    customer=existing, data=changes, consent_source=source, event_source=source
                ), False
        except CustomerError:
            if attempt == 2:
                raise
            # A concurrent request may have created this very customer: look again once.
            if customer_find(source_id=data.get("source_id"), email=data.get("email")) is None:
                raise
    raise AssertionError("unreachable")


# --- CSV import: upload and mapping (the job: jobs.customer_import_run, over importing.py) ---


@transaction.atomic
def customer_import_create(*, filename: str, content: str, created_by: Actor) -> CustomerImport:
    """Keep an uploaded (already decoded and checked) CSV, waiting for its column mapping."""
    return CustomerImport.objects.create(
        filename=filename[:255], content=content, created_by=created_by
    )


@transaction.atomic
def customer_import_start(
    *, customer_import: CustomerImport, mapping: dict[str, str], match_on: str, actor: Actor
) -> CustomerImport:
    """Save the mapping and queue the import job (on commit). Only an import still waiting for
    its mapping can start, so a double-submitted form queues one job."""
    updated = CustomerImport.objects.filter(
        pk=customer_import.pk, status=CustomerImport.Status.MAPPING
    ).update(mapping=mapping, match_on=match_on, status=CustomerImport.Status.QUEUED)
    if not updated:
        raise DomainError(
            "This import has already started; its progress is shown below.", key="import_started"
        )
    job_run = job_run_create(
        kind="customers.import",
        label=f"Import {customer_import.filename}",
        subject=f"customer_import:{customer_import.pk}",
        created_by=actor,
    )
    CustomerImport.objects.filter(pk=customer_import.pk).update(job_run=job_run)
    enqueue(
        "apps.customers.jobs.customer_import_run",
        customer_import.pk,
        job_run=job_run,
        job_run_id=str(job_run.pk),
    )
    customer_import.refresh_from_db()
    return customer_import
