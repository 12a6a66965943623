"""Checking and normalising customer fields, shared by the portal form, the CSV import and the
API so that one value is accepted (or refused with the same sentence) wherever it comes from.

Each `clean_*` takes the raw text and returns the stored value, or raises `FieldProblem` with a
sentence that says what to send instead. They are plain functions (no Django forms) because the
import calls them hundreds of thousands of times per file.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Field
from django.utils import timezone

from apps.core import jsonvalues
from apps.core.money import json_kind
from apps.customers.models import Customer

PHONE_EXAMPLE = "+14155550123"
EXAMPLE_METADATA = '{"tier": "gold", "visits": 3}'
# E.164: a plus, a country code that does not start with 0, at most 15 digits in all. Seven
# digits is the shortest real number with its country code (e.g. Niue's +683 4002).
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# What people put between digits: spaces (also non-breaking), dashes, dots, brackets.
_PHONE_NOISE = re.compile(r"[\s\-.()\u00a0\u2011\u2013]")
_BOOLEAN_WORDS = {
    "yes": True,
    "y": True,
    "true": True,
    "1": True,
    "x": True,
    "no": False,
    "n": False,
    "false": False,
    "0": False,
}
# Field name → max length, from the model, so the limits never drift apart.
MAX_LENGTHS: dict[str, int] = {
    f.name: f.max_length
    for f in Customer._meta.get_fields()
    if isinstance(f, Field) and f.max_length and f.name != "id"
}


class FieldProblem(ValueError):
    """A value that cannot be stored; `message` says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def clean_text(value: str, field: str, label: str) -> str:
    """Trimmed text with inner runs of whitespace collapsed, within the model's length."""
    text = " ".join(value.split())
    limit = MAX_LENGTHS.get(field)
    if limit and len(text) > limit:
        raise FieldProblem(f"{label} is too long ({len(text)} characters); at most {limit}.")
    return text


def clean_source_id(value: str) -> str:
    text = value.strip()
    limit = MAX_LENGTHS["source_id"]
    if len(text) > limit:
        raise FieldProblem(f"The source ID is too long ({len(text)} characters); at most {limit}.")
    return text


def clean_email(value: str) -> str:
    """Lower-cased: addresses are unique case-insensitively, and one spelling avoids
    "Ann@x.test" and "ann@x.test" looking like two people."""
    email = value.strip().lower()
    if not email:
        return ""
    if len(email) > MAX_LENGTHS["email"]:
        raise FieldProblem(f"The email address is too long; at most {MAX_LENGTHS['email']}.")
    try:
        validate_email(email)
    except ValidationError:
        raise FieldProblem(
            f"“{value.strip()[:60]}” is not an email address; write it as name@example.com."
        ) from None
    return email


def clean_phone(value: str) -> str:
    """E.164 (`+14155550123`) after dropping spaces, dashes, dots and brackets; a leading 00
    (the international prefix in most of the world) becomes +."""
    phone = _PHONE_NOISE.sub("", value)
    if not phone:
        return ""
    if phone.startswith("00"):
        phone = "+" + phone[2:]
    if not _E164.fullmatch(phone):
        raise FieldProblem(
            f"“{value.strip()[:40]}” is not a phone number in international form: write a "
            f"plus sign, the country code and the number, e.g. {PHONE_EXAMPLE}."
        )
    return phone


def clean_birthdate(value: str | dt.date | None, *, today: dt.date | None = None) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = dt.date.fromisoformat(text)
        except ValueError:
            raise FieldProblem(
                f"“{text[:40]}” is not a date; write the birthdate as YYYY-MM-DD, e.g. 1990-04-23."
            ) from None
    today = today or timezone.localdate()
    if value > today:
        raise FieldProblem(
            f"The birthdate {value.isoformat()} is in the future; check the year "
            "(dates are written YYYY-MM-DD)."
        )
    if value.year < 1900:
        raise FieldProblem(f"The birthdate {value.isoformat()} is before 1900; check the year.")
    return value


def clean_metadata(value: str | dict | None) -> dict[str, Any]:
    """A JSON object, given as text (portal, CSV) or already parsed (API), holding only values
    PostgreSQL can store (apps.core.jsonvalues: no NaN, no huge numbers, no NUL)."""
    if value is None:
        return {}
    try:
        if isinstance(value, str):
            if not value.strip():
                return {}
            value = jsonvalues.loads(value, root="metadata", label="The metadata")
        else:
            jsonvalues.check(value, root="metadata", label="The metadata")
    except jsonvalues.JsonValueError as exc:
        raise FieldProblem(exc.explained(f"write an object such as {EXAMPLE_METADATA}")) from None
    if not isinstance(value, dict):
        raise FieldProblem(
            f"The metadata must be a JSON object in braces, such as {EXAMPLE_METADATA}, "
            f"not {json_kind(value)}."
        )
    return value


def clean_boolean(value: str, label: str) -> bool | None:
    """yes/no, true/false, 1/0 (any case); empty means "not given" (None)."""
    word = value.strip().lower()
    if not word:
        return None
    if word not in _BOOLEAN_WORDS:
        raise FieldProblem(
            f"{label} must be yes or no (or true/false, 1/0), not “{value.strip()[:20]}”."
        )
    return _BOOLEAN_WORDS[word]
