"""The customer CSV import: reading the upload, guessing the column mapping, and the set-based
import itself.

How an import runs (`import_rows`), so that 100,000 rows cost a handful of queries:

1. Python reads the CSV and checks every mapped cell with apps.customers.validators, 10,000 rows
   at a time; each chunk of valid rows is COPYed into a session temp table, each invalid row
   becomes lines of the error report (row, column, problem) and is not stored.
2. In one transaction, under a lock that holds off other writers of customers for those
   seconds (so the checks below stay true until the write): duplicate keys inside the file are
   resolved (the LAST row with a key wins; earlier ones are reported as skipped), rows whose
   email (or source ID) belongs to a different existing customer are reported and dropped,
   then one UPDATE … FROM changes the existing customers and one INSERT … SELECT adds the new
   ones, each also writing its `customer.updated` / `customer.created` events.

Nothing existing is lost: an empty cell means "no value in the file" and keeps what the
customer has; metadata keys are merged into the customer's metadata; consent given again
keeps its original source and time. Row numbers are spreadsheet rows: the header is row 1.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.customers import validators as v
from apps.customers.fields import CONSENT_FIELDS, TEXT_FIELDS
from apps.customers.import_sql import (
    MATCH_CHOICES,
    TEMP,
    TEMP_COLUMNS,
    Outcome,
    create_temp_table,
    drop_temp_table,
    upsert,
)

MAX_IMPORT_BYTES = 20 * 1024 * 1024
CHUNK_ROWS = 10_000
IGNORE = ""
META_KEY = "meta"  # "put this column into metadata under the column's name"

# Customer fields a column can be mapped to, in form order.
IMPORT_FIELDS: dict[str, str] = {
    "source_id": "Source ID",
    "name": "Name",
    "email": "Email",
    "phone": "Phone",
    "address_line_1": "Address line 1",
    "address_line_2": "Address line 2",
    "city": "City",
    "postal_code": "Postal code",
    "state": "State / region",
    "country": "Country",
    "birthdate": "Birthdate (YYYY-MM-DD)",
    "metadata": "Metadata (a JSON object)",
    "email_consent": "Email consent (yes/no)",
    "sms_consent": "SMS consent (yes/no)",
}
FIELD_CHOICES = [
    (IGNORE, "Ignore this column"),
    *IMPORT_FIELDS.items(),
    (META_KEY, "Metadata key named after the column"),
]
_GUESSES = {
    "source_id": {"sourceid", "id", "customerid", "externalid", "clientid", "customernumber"},
    "name": {"name", "fullname", "customername", "customer"},
    "email": {"email", "emailaddress", "mail"},
    "phone": {"phone", "phonenumber", "mobile", "mobilephone", "tel", "telephone", "cell"},
    "address_line_1": {"address", "address1", "addressline1", "street", "line1"},
    "address_line_2": {"address2", "addressline2", "line2"},
    "city": {"city", "town"},
    "postal_code": {"postalcode", "postcode", "zip", "zipcode"},
    "state": {"state", "region", "province", "county"},
    "country": {"country", "countrycode"},
    "birthdate": {"birthdate", "birthday", "dateofbirth", "dob"},
    "metadata": {"metadata"},
    "email_consent": {"emailconsent", "emailoptin", "acceptsemail", "newsletter"},
    "sms_consent": {"smsconsent", "smsoptin", "acceptssms"},
}


class ImportFileError(ValueError):
    """An upload that cannot be imported at all; `message` says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- upload ------------------------------------------------------------------------------


def decode_upload(raw: bytes) -> str:
    """The file as text: UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8")."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFileError(
            "The file is UTF-16 text; save it as “CSV UTF-8 (comma delimited)” and upload it again."
        )
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ImportFileError(
            f"The file is not UTF-8 text: line {line} has the byte 0x{raw[exc.start]:02X}, "
            "which is not valid UTF-8 (the file was probably saved as Latin-1 or Windows-1252). "
            "Save it as “CSV UTF-8” and upload it again."
        ) from None
    nul = text.find("\x00")
    if nul >= 0:
        raise ImportFileError(
            f"Line {text.count(chr(10), 0, nul) + 1} contains a NUL character; this is not a "
            "text CSV file. Export the data as CSV and upload it again."
        )
    return text


def detect_delimiter(text: str) -> str:
    """Comma, semicolon (spreadsheets in many European locales) or tab: whichever the header
    line holds most of."""
    first_line = text.split("\n", 1)[0]
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_header(text: str) -> list[str]:
    """The header row's column names, checked: present, named, unique, with data below."""
    reader = csv.reader(io.StringIO(text), delimiter=detect_delimiter(text))
    try:
        header = next(reader, None)
        has_data = any(any(cell.strip() for cell in row) for row in _first(reader, 1000))
    except csv.Error as exc:
        raise ImportFileError(f"The file is not a readable CSV: {exc}.") from None
    if not header or not any(h.strip() for h in header):
        raise ImportFileError(
            "The file is empty or its first row is blank; the first row must name the columns."
        )
    columns = [h.strip() for h in header]
    seen: dict[str, int] = {}
    for index, name in enumerate(columns, start=1):
        if not name:
            raise ImportFileError(
                f"Column {index} has no name in the header row; give every column a name."
            )
        if name.lower() in seen:
            raise ImportFileError(
                f"The column name “{name}” appears twice in the header row (columns "
                f"{seen[name.lower()]} and {index}); rename one of them."
            )
        seen[name.lower()] = index
    if not has_data:
        raise ImportFileError("The file has a header row but no rows of customers below it.")
    return columns


def _first(reader: Iterator[list[str]], n: int) -> Iterator[list[str]]:
    for i, row in enumerate(reader):
        if i >= n:
            return
        yield row


def guess_mapping(columns: list[str]) -> dict[str, str]:
    """A first guess at each column's field from its name ("E-mail" → email); the person
    confirms or changes it. A field is guessed for one column at most."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for column in columns:
        key = re.sub(r"[^a-z0-9]", "", column.lower())
        guess = next((f for f, names in _GUESSES.items() if key in names), IGNORE)
        if guess in taken:
            guess = IGNORE
        taken.add(guess)
        mapping[column] = guess
    return mapping


def mapping_problems(mapping: dict[str, str], match_on: str) -> list[str]:
    """What is wrong with a mapping, as sentences (empty when it can run)."""
    problems = []
    by_field: dict[str, list[str]] = {}
    for column, target in mapping.items():
        if target and target != META_KEY:
            by_field.setdefault(target, []).append(column)
    for target, columns in by_field.items():
        if len(columns) > 1:
            names = " and ".join(f"“{c}”" for c in columns)
            problems.append(
                f"Columns {names} are both mapped to {IMPORT_FIELDS[target]}; map only one."
            )
    if match_on not in dict(MATCH_CHOICES):
        problems.append("Choose whether to match customers by source ID or by email.")
    elif match_on not in by_field:
        label = dict(MATCH_CHOICES)[match_on]
        problems.append(
            f"Customers are matched by {label.lower()}, but no column is mapped to {label}. "
            f"Map the column that holds it, or match on the other field."
        )
    return problems


# --- the import job's work ----------------------------------------------------------------


def _cleaner(target: str, today: Any) -> Callable[[str], Any]:
    if target == "source_id":
        return v.clean_source_id
    if target == "email":
        return v.clean_email
    if target == "phone":
        return v.clean_phone
    if target == "birthdate":
        return lambda value: v.clean_birthdate(value, today=today)
    if target == "metadata":
        return v.clean_metadata
    if target in CONSENT_FIELDS:
        label = IMPORT_FIELDS[target].split(" (")[0]
        return lambda value: v.clean_boolean(value, label)
    label = IMPORT_FIELDS[target]
    return lambda value: v.clean_text(value, target, label)


def _parse(
    text: str, mapping: dict[str, str], match_on: str, outcome: Outcome
) -> Iterator[list[tuple[Any, ...]]]:
    """Valid rows as tuples to COPY (in TEMP_COLUMNS order), CHUNK_ROWS at a time; problems go
    to `outcome.errors`. A row with any problem is left out whole."""
    reader = csv.reader(io.StringIO(text), delimiter=detect_delimiter(text))
    header = [h.strip() for h in next(reader)]
    width = len(header)
    today = timezone.localdate()
    plan = [
        (index, column, target, _cleaner(target, today) if target != META_KEY else None)
        for index, column in enumerate(header)
        if (target := mapping.get(column, IGNORE))
    ]
    key_column = next((c for _i, c, t, _f in plan if t == match_on), match_on)
    key_label = dict(MATCH_CHOICES)[match_on]
    chunk: list[tuple[Any, ...]] = []
    row_no = 1
    try:
        for cells in reader:
            row_no += 1
            if not cells or not any(cell.strip() for cell in cells):
                continue  # a blank line is no customer
            outcome.total += 1
            if len(cells) != width:
                outcome.errors.append(
                    (
                        row_no,
                        "",
                        f"This row has {len(cells)} cells but the header has {width} columns; "
                        "check for a missing delimiter or an unclosed quote.",
                    )
                )
                continue
            values: dict[str, Any] = {}
            meta: dict[str, Any] = {}
            bad = False
            for index, column, target, clean in plan:
                raw = cells[index]
                if clean is None:  # metadata key named after the column
                    if raw.strip():
                        meta[column] = raw.strip()
                    continue
                try:
                    values[target] = clean(raw)
                except v.FieldProblem as problem:
                    outcome.errors.append((row_no, column, problem.message))
                    bad = True
            if bad:
                continue
            if not values.get(match_on):
                outcome.errors.append(
                    (
                        row_no,
                        key_column,
                        f"The {key_label.lower()} is empty; every row needs one, because "
                        f"customers are matched by {key_label.lower()}.",
                    )
                )
                continue
            metadata = {**(values.get("metadata") or {}), **meta}
            chunk.append(
                (
                    row_no,
                    values.get("source_id") or None,
                    values.get("email") or None,
                    *[values.get(name) or None for name in TEXT_FIELDS],
                    values.get("birthdate"),
                    json.dumps(metadata) if metadata else None,
                    *[values.get(name) for name in CONSENT_FIELDS],
                )
            )
            if len(chunk) >= CHUNK_ROWS:
                yield chunk
                chunk = []
    except csv.Error as exc:
        raise ImportFileError(f"Row {row_no} cannot be read as CSV: {exc}.") from None
    if chunk:
        yield chunk


def import_rows(
    *,
    text: str,
    mapping: dict[str, str],
    match_on: str,
    event_payload: dict[str, Any],
    on_progress: Callable[[float, str], None] = lambda percent, message: None,
    on_saved: Callable[[Outcome], None] = lambda outcome: None,
) -> Outcome:
    """Import `text` (see the module docstring). `on_saved` runs inside the final transaction,
    so the caller's own record of the outcome commits together with the customers."""
    outcome = Outcome()
    lines = max(text.count("\n"), 1)
    column_of = {target: column for column, target in mapping.items() if target}
    create_temp_table()
    try:
        for chunk in _parse(text, mapping, match_on, outcome):
            with connection.cursor() as cursor:
                with cursor.cursor.copy(
                    f"COPY {TEMP} ({', '.join(TEMP_COLUMNS)}) FROM STDIN"
                ) as copy:
                    for row in chunk:
                        copy.write_row(row)
            # The row number reached over the file's line count: close enough for a bar.
            on_progress(min(chunk[-1][0] * 80 / lines, 80), f"Checked {outcome.total:,} rows…")
        on_progress(85, f"Saving {outcome.total - outcome.failed_rows:,} customers…")
        with transaction.atomic():
            upsert(match_on, outcome, event_payload, column_of)
            on_saved(outcome)
    finally:
        drop_temp_table()
    return outcome
