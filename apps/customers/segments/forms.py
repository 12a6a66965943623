"""Forms of the segment pages, and the filter builder's rows.

The builder posts one set of inputs per condition row, repeated under the same names
(`field`, `key`, `op`, `value`, `days`); every row renders all five (unused ones hidden) so
`getlist` keeps them aligned. The same POST serves the save (plain form, no JavaScript
needed), the HTMX row refresh, and the live preview.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.http import QueryDict

from apps.campaigns.models import Campaign
from apps.customers.models import Segment
from apps.customers.segments.filters import (
    FIELDS,
    METADATA_PREFIX,
    OPERATORS,
    FilterError,
    field_for,
)

# Builder field choices: the whitelisted fields, plus "metadata" with a free key input.
FIELD_GROUPS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Customer",
        [
            (n, FIELDS[n].label)
            for n in (
                "name",
                "email",
                "phone",
                "source_id",
                "city",
                "country",
                "postal_code",
                "birthdate",
                "created_at",
            )
        ]
        + [("metadata", "Metadata key…")],
    ),
    ("Consent", [(n, FIELDS[n].label) for n in ("email_consent", "sms_consent")]),
    (
        "Orders",
        [(n, FIELDS[n].label) for n in ("orders_count", "total_spent", "last_order_date")],
    ),
    (
        "Codes",
        [
            (n, FIELDS[n].label)
            for n in ("codes_published", "codes_redeemed", "has_unredeemed_code_from")
        ],
    ),
    ("Events", [("event_in_last_days", "Event in the last N days")]),
]


@dataclass
class Row:
    """One condition row of the builder, as the person typed it."""

    field: str = ""  # a FIELDS name, or "metadata"
    key: str = ""
    op: str = ""
    value: str = ""
    days: str = ""
    error: str = ""

    @property
    def name(self) -> str:
        return f"{METADATA_PREFIX}{self.key.strip()}" if self.field == "metadata" else self.field

    @property
    def type(self) -> str:
        if self.field == "metadata":
            return "metadata"
        field = field_for(self.field)
        return field.type if field else ""

    @property
    def operators(self) -> list[tuple[str, str]]:
        return list(OPERATORS.get(self.type, {}).items())

    @property
    def input(self) -> str:
        """How the value is typed: none, text, number, date, days, campaign, event."""
        if self.op in ("is_set", "is_not_set", "is_true", "is_false") and self.type != "event":
            return "none"
        if self.type in ("campaign", "event"):
            return self.type
        if self.op == "in_last_days":
            return "days"
        if self.type == "date":
            return "date"
        if self.type == "number" or (self.type == "metadata" and self.op in _NUMERIC):
            return "number"
        return "text" if self.type else "none"

    def condition(self) -> dict[str, Any]:
        value: Any = self.value.strip()
        if self.type == "event":
            value = {"type": value, "days": self.days.strip()}
        return {"field": self.name, "op": self.op, "value": value}


_NUMERIC = {"eq", "ne", "gt", "lt", "gte", "lte"}


@dataclass
class Builder:
    match: str
    rows: list[Row]
    general_error: str = ""

    @classmethod
    def from_post(cls, data: QueryDict) -> Builder:
        lists = {name: data.getlist(name) for name in ("field", "key", "op", "value", "days")}
        count = len(lists["field"])
        rows = []
        for i in range(count):
            row = Row(
                **{name: (values[i] if i < len(values) else "") for name, values in lists.items()}
            )
            # A changed field keeps its operator only when the new type offers it.
            if row.op not in dict(row.operators):
                row.op = row.operators[0][0] if row.operators else ""
            rows.append(row)
        match = data.get("match", "all")
        return cls(match=match if match in ("all", "any") else "all", rows=rows)

    @classmethod
    def from_filter(cls, data: dict[str, Any] | None) -> Builder:
        data = data or {}
        rows = []
        for condition in data.get("conditions") or []:
            name, value = condition.get("field", ""), condition.get("value")
            row = Row(field=name, op=condition.get("op", ""))
            if name.startswith(METADATA_PREFIX):
                row.field, row.key = "metadata", name[len(METADATA_PREFIX) :]
            if isinstance(value, dict):
                row.value, row.days = str(value.get("type", "")), str(value.get("days", ""))
            elif isinstance(value, list):
                row.value = ", ".join(str(v) for v in value)
            elif value is not None:
                row.value = str(value)
            rows.append(row)
        return cls(match=data.get("match", "all"), rows=rows or [Row()])

    def filter(self) -> dict[str, Any]:
        return {"match": self.match, "conditions": [row.condition() for row in self.rows]}

    def show_errors(self, exc: FilterError) -> None:
        for index, row in enumerate(self.rows):
            row.error = exc.for_condition(index)
        self.general_error = exc.general

    def add_row(self) -> None:
        self.rows.append(Row())

    def remove_row(self, index: int) -> None:
        if 0 <= index < len(self.rows):
            del self.rows[index]


def campaign_choices() -> list[tuple[int, str]]:
    return list(Campaign.objects.order_by("name").values_list("pk", "name"))


class SegmentForm(forms.Form):
    name = forms.CharField(max_length=120, label="Name")
    kind = forms.ChoiceField(
        choices=Segment.Kind.choices,
        widget=forms.RadioSelect,
        initial=Segment.Kind.ACTIVE,
        label="Kind",
        help_text="Active: everyone matching the conditions below, kept up to date. "
        "Static: a fixed list you choose or upload.",
    )

    def __init__(self, *args: Any, segment: Segment | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if segment is not None:  # the kind of an existing segment does not change
            del self.fields["kind"]


class MembersUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="One source id or email per line, in the first column; a header line is fine.",
    )
