"""Segment services (partner schema): create, edit, delete, static members, and the
set-based evaluation of active segments that records who entered and who left.

Evaluation runs two statements built on the compiled filter (apps.customers.segments.filters):
a DELETE of the members that no longer match and an INSERT … SELECT of the customers that now
match, each RETURNING the customer ids so the `segment.left` / `segment.entered` events are
written in the same transaction (apps.customers.events.events_record_bulk). The segment row is
locked first, so two evaluations of one segment never interleave.

The jobs evaluate through `segment_evaluate_isolated`: a segment whose evaluation fails is
rolled back alone, keeps its members, and carries the reason in `last_error` (shown on its
page) until an evaluation succeeds; the other segments of the partner are still evaluated.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.core.db import tenant_connection
from apps.core.errors import DomainError
from apps.core.jobs import enqueue
from apps.customers.events import events_record_bulk
from apps.customers.models import Customer, Segment, SegmentMembership
from apps.customers.segments.filters import FilterError, compile_parts, normalize_filter

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_UPLOAD_VALUES = 200_000
_HEADER_WORDS = {"source_id", "source id", "sourceid", "email", "id", "customer", "e-mail"}

_MEMBERS = SegmentMembership._meta.db_table
_SEGMENTS = Segment._meta.db_table


class SegmentError(DomainError):
    """A segment change that cannot be made; `field` names the form field to blame."""

    def __init__(self, message: str, *, key: str = "invalid_segment", field: str = "") -> None:
        super().__init__(message, key=key)
        self.field = field


@dataclass(frozen=True)
class Evaluation:
    entered: list[int]
    left: list[int]
    members: int


@dataclass(frozen=True)
class UploadResult:
    values: int
    added: int
    unmatched: int
    unmatched_sample: list[str] = field(default_factory=list)


def segment_in_use_by(segment: Segment) -> str | None:
    """The name of a live or paused distribution that uses `segment`, or None. (Read through
    the reverse relation, so this app does not import the distributions app.)"""
    using = (
        segment.distributions.filter(status__in=["live", "paused"])  # type: ignore[attr-defined]
        .order_by("name")
        .values_list("name", flat=True)
        .first()
    )
    return f"the distribution “{using}”" if using else None


# --- create, edit, delete --------------------------------------------------------------------


def _check_name(name: str, *, exclude: int | None = None) -> str:
    name = " ".join(name.split())
    if not name:
        raise SegmentError("Give the segment a name.", field="name")
    clash = Segment.objects.filter(name__iexact=name)
    if exclude:
        clash = clash.exclude(pk=exclude)
    if clash.exists():
        raise SegmentError(
            f"A segment named “{name}” already exists; choose another name.",
            key="duplicate_name",
            field="name",
        )
    return name


def _check_filter(kind: str, data: Any) -> dict[str, Any]:
    if kind != Segment.Kind.ACTIVE:
        return {}
    clean = normalize_filter(data)  # FilterError names the faulty condition
    if not clean["conditions"]:
        raise SegmentError(
            "An active segment needs at least one condition; add one with “Add condition”.",
            field="filter",
        )
    return clean


@transaction.atomic
def segment_create(*, name: str, kind: str, filter: Any = None) -> Segment:
    if kind not in Segment.Kind.values:
        raise SegmentError("Choose static or active.", field="kind")
    segment = Segment.objects.create(
        name=_check_name(name), kind=kind, filter=_check_filter(kind, filter)
    )
    if kind == Segment.Kind.ACTIVE:
        _enqueue_evaluation(segment)
    return segment


@transaction.atomic
def segment_update(*, segment: Segment, name: str, filter: Any = None) -> Segment:
    """Rename, and for an active segment replace its filter (then it is re-evaluated)."""
    segment.name = _check_name(name, exclude=segment.pk)
    fields = ["name", "updated_at"]
    if segment.kind == Segment.Kind.ACTIVE:
        clean = _check_filter(segment.kind, filter)
        if clean != segment.filter:
            segment.filter = clean
            fields.append("filter")
            _enqueue_evaluation(segment)
    segment.save(update_fields=fields)
    return segment


@transaction.atomic
def segment_delete(*, segment: Segment) -> None:
    user = segment_in_use_by(segment)
    if user:
        raise SegmentError(
            f"“{segment.name}” is used by {user}; stop or change that distribution first.",
            key="segment_in_use",
        )
    segment.delete()


def _enqueue_evaluation(segment: Segment) -> None:
    enqueue("apps.customers.segments.jobs.segment_evaluate_job", segment.pk)


# --- members ---------------------------------------------------------------------------------


def segment_members(segment: Segment) -> QuerySet[Customer]:
    """The customers currently in the segment (static list or last evaluation)."""
    return Customer.objects.filter(
        id__in=SegmentMembership.objects.filter(segment=segment).values("customer_id")
    )


def _payload(segment: Segment) -> dict[str, Any]:
    return {"segment_id": segment.pk, "segment": segment.name, "kind": segment.kind}


def _record(segment: Segment, event_type: str, customer_ids: list[int]) -> None:
    payload = _payload(segment)
    events_record_bulk((customer_id, event_type, payload) for customer_id in customer_ids)


def _recount(segment: Segment, *, evaluated: bool = False) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_SEGMENTS} SET members_count = "  # noqa: S608 (model table names)
            f"(SELECT count(*) FROM {_MEMBERS} WHERE segment_id = %s), updated_at = now()"
            + (", evaluated_at = now(), last_error = '', last_error_at = NULL" if evaluated else "")
            + " WHERE id = %s RETURNING members_count, evaluated_at",
            [segment.pk, segment.pk],
        )
        segment.members_count, evaluated_at = cursor.fetchone()
    if evaluated:
        segment.evaluated_at = evaluated_at
        segment.last_error, segment.last_error_at = "", None
    return segment.members_count


def _require_static(segment: Segment) -> None:
    if segment.kind != Segment.Kind.STATIC:
        raise SegmentError(
            "Members of an active segment follow its filter; edit the filter instead.",
            key="segment_not_static",
        )


def _change_members(segment: Segment, event_type: str, sql: str, *params: Any) -> int:
    """Run one statement that adds or removes members of a static segment (its first
    parameter the segment's id) RETURNING their customer ids, record `event_type` for each of
    them and refresh the count: whoever changes the members also writes the events automatic
    distributions react to. Returns how many changed."""
    _require_static(segment)
    with connection.cursor() as cursor:
        cursor.execute(sql, [segment.pk, *params])
        changed = [row[0] for row in cursor.fetchall()]
    _record(segment, event_type, changed)
    _recount(segment)
    return len(changed)


_ADD = (
    f"INSERT INTO {_MEMBERS} (segment_id, customer_id, added_at) "  # noqa: S608
    "SELECT %s, c.id, now() FROM customers_customer c WHERE c.id = ANY(%s) "
    "ON CONFLICT (segment_id, customer_id) DO NOTHING RETURNING customer_id"
)
_REMOVE = (
    f"DELETE FROM {_MEMBERS} WHERE segment_id = %s "  # noqa: S608
    "AND customer_id = ANY(%s) RETURNING customer_id"
)


@transaction.atomic
def segment_members_add(*, segment: Segment, customer_ids: list[int]) -> int:
    """Add customers to a static segment; returns how many were not members yet."""
    return _change_members(segment, "segment.entered", _ADD, [int(i) for i in customer_ids])


@transaction.atomic
def segment_members_remove(*, segment: Segment, customer_ids: list[int]) -> int:
    """Remove customers from a static segment; returns how many were members."""
    return _change_members(segment, "segment.left", _REMOVE, [int(i) for i in customer_ids])


def parse_member_csv(content: bytes) -> list[str]:
    """The first column of every row (source ids or emails), header and blanks skipped."""
    if len(content) > MAX_UPLOAD_BYTES:
        raise SegmentError(
            f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; split it.",
            field="file",
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SegmentError(
            "The file is not UTF-8 text; save it as “CSV UTF-8” and upload it again.",
            field="file",
        ) from None
    values: list[str] = []
    for number, row in enumerate(csv.reader(io.StringIO(text))):
        cell = row[0].strip() if row else ""
        if not cell or (number == 0 and cell.lower() in _HEADER_WORDS):
            continue
        values.append(cell)
    if not values:
        raise SegmentError(
            "The file has no source ids or emails; put one per line in the first column.",
            field="file",
        )
    if len(values) > MAX_UPLOAD_VALUES:
        raise SegmentError(
            f"The file has more than {MAX_UPLOAD_VALUES:,} rows; split it.", field="file"
        )
    return list(dict.fromkeys(values))


@transaction.atomic
def segment_members_upload(*, segment: Segment, content: bytes) -> UploadResult:
    """Add the customers named in a CSV (source id or email per line) to a static segment.
    Set-based: one INSERT … SELECT matches every value at once."""
    _require_static(segment)  # before reading the file: its problems would not matter
    values = parse_member_csv(content)
    lowered = [v.lower() for v in values]
    added = _change_members(
        segment,
        "segment.entered",
        f"INSERT INTO {_MEMBERS} (segment_id, customer_id, added_at) "  # noqa: S608
        "SELECT %s, c.id, now() FROM customers_customer c "
        "WHERE c.source_id = ANY(%s) OR lower(c.email) = ANY(%s) "
        "ON CONFLICT (segment_id, customer_id) DO NOTHING RETURNING customer_id",
        values,
        lowered,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT v FROM unnest(%s::text[]) v WHERE NOT EXISTS (SELECT 1 FROM "
            "customers_customer c WHERE c.source_id = v OR lower(c.email) = lower(v))",
            [values],
        )
        unmatched = [row[0] for row in cursor.fetchall()]
    return UploadResult(
        values=len(values),
        added=added,
        unmatched=len(unmatched),
        unmatched_sample=unmatched[:10],
    )


# --- evaluation ------------------------------------------------------------------------------


@transaction.atomic
def segment_evaluate(*, segment: Segment) -> Evaluation:
    """Bring an active segment's members in line with its filter; record who entered and
    who left. Static segments only get their count refreshed."""
    segment = Segment.objects.select_for_update().get(pk=segment.pk)
    if segment.kind != Segment.Kind.ACTIVE:
        return Evaluation(entered=[], left=[], members=_recount(segment))
    try:
        source, where, params = compile_parts(segment.filter)
    except FilterError as exc:  # a stored filter stopped being valid (should not happen)
        raise SegmentError(f"The filter of “{segment.name}” is invalid: {exc}") from exc
    with connection.cursor() as cursor:
        # NOT EXISTS on the member's own row rather than NOT IN (SELECT …): the planner turns
        # it into an anti-join, while a NOT IN over a million ids only hashes when it fits in
        # work_mem and otherwise rescans the list for every member.
        cursor.execute(
            f"DELETE FROM {_MEMBERS} sm WHERE sm.segment_id = %s "  # noqa: S608
            f"AND NOT EXISTS (SELECT 1 FROM {source} WHERE c.id = sm.customer_id "
            f"AND ({where})) RETURNING sm.customer_id",
            [segment.pk, *params],
        )
        left = [row[0] for row in cursor.fetchall()]
        # The NOT EXISTS lets the planner skip current members with an anti-join; ON
        # CONFLICT stays as the backstop against a concurrent static-style insert.
        cursor.execute(
            f"INSERT INTO {_MEMBERS} (segment_id, customer_id, added_at) "  # noqa: S608
            f"SELECT %s, c.id, now() FROM {source} WHERE ({where}) "
            f"AND NOT EXISTS (SELECT 1 FROM {_MEMBERS} sm WHERE sm.segment_id = %s "
            "AND sm.customer_id = c.id) "
            "ON CONFLICT (segment_id, customer_id) DO NOTHING RETURNING customer_id",
            [segment.pk, *params, segment.pk],
        )
        entered = [row[0] for row in cursor.fetchall()]
    _record(segment, "segment.left", left)
    _record(segment, "segment.entered", entered)
    members = _recount(segment, evaluated=True)
    return Evaluation(entered=entered, left=left, members=members)


def _failure_sentence(exc: Exception) -> str:
    if isinstance(exc, SegmentError):
        return exc.message
    if isinstance(exc, DatabaseError):
        detail = (str(exc).strip().splitlines() or ["database error"])[0][:300]
        what = f"the database refused its conditions ({detail})"
    else:
        what = f"its conditions could not be evaluated ({type(exc).__name__})"
    return (
        f"The last evaluation failed: {what}. Its members are those of the last successful "
        "evaluation; edit the conditions and save the segment to evaluate it again."
    )


def segment_evaluate_isolated(*, segment: Segment) -> Evaluation | None:
    """Evaluate one segment on its own: on any failure its transaction (or savepoint) is rolled
    back, the reason is stored on the segment and logged, and None is returned, so the caller
    goes on with the next segment. A success clears a stored failure (`_recount`)."""
    try:
        return segment_evaluate(segment=segment)
    except Exception as exc:  # any failure: one broken segment must not stop the others
        logger.exception(
            "segment %s in %s could not be evaluated", segment.pk, tenant_connection.schema_name
        )
        message = _failure_sentence(exc)
        now = timezone.now()
        Segment.objects.filter(pk=segment.pk).update(last_error=message, last_error_at=now)
        segment.last_error, segment.last_error_at = message, now
        return None


def segments_evaluate_all() -> dict[str, int]:
    """Re-evaluate every active segment of the current schema, each in its own transaction
    so one broken filter does not hold back the others."""
    totals = {"segments": 0, "entered": 0, "left": 0, "failed": 0}
    ids = (
        Segment.objects.filter(kind=Segment.Kind.ACTIVE).order_by("pk").values_list("pk", flat=True)
    )
    for segment_id in list(ids):
        segment = Segment.objects.filter(pk=segment_id).first()
        if segment is None:
            continue
        result = segment_evaluate_isolated(segment=segment)
        if result is None:
            totals["failed"] += 1
            continue
        totals["segments"] += 1
        totals["entered"] += len(result.entered)
        totals["left"] += len(result.left)
    return totals
