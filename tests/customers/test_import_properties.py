"""Properties of the CSV import's reading (apps.customers.importing), for any file: the upload
is text or a clear ImportFileError; the header is a list of unique names or a clear error; and
every data row ends as either a row to store (with values PostgreSQL can hold) or lines of the
error report naming the row: never an exception. No database: the reading is pure Python."""

from __future__ import annotations

import csv
import io
import json

from hypothesis import event, given
from hypothesis import strategies as st

from apps.core import jsonvalues
from apps.customers.import_sql import TEMP_COLUMNS, Outcome
from apps.customers.importing import (
    IMPORT_FIELDS,
    META_KEY,
    ImportFileError,
    _parse,
    decode_upload,
    guess_mapping,
    mapping_problems,
    read_header,
)

# Text a cell may hold once the upload is decoded (decode_upload refuses NUL for the file).
cell_text = st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=24)
metadata_texts = st.sampled_from(
    [
        '{"tier": "gold"}',
        '{"score": NaN}',
        '{"n": 99999999999999999999}',
        '{"n": ' + "9" * 5000 + "}",
        '{"deep": ' + "[" * 40 + "]" * 40 + "}",
        '{"x": -Infinity}',
        "[1, 2]",
        "{broken",
        '{"ok": 9223372036854775807}',
        "",
    ]
)
typed_cells = st.sampled_from(
    [
        "ann@example.test",
        "not-an-email",
        "+44 20 7946 0958",
        "0044 20 7946 0958",
        "12345",
        "1990-04-23",
        "2999-01-01",
        "23/04/1990",
        "yes",
        "no",
        "maybe",
        "  ",
        "x" * 300,
    ]
)
cells = cell_text | typed_cells | metadata_texts
header_names = (
    st.sampled_from(["id", "customer_id", "E-mail", "Phone", "DOB", "metadata", "Newsletter"])
    | cell_text
)


def to_csv(rows: list[list[str]], delimiter: str = ",") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return out.getvalue()


@st.composite
def csv_files(draw: st.DrawFn, *, good_header: bool = False) -> str:
    names = header_names
    if good_header:  # named, unique, and holding no delimiter (most real files)
        names = names.map(lambda n: "".join(c for c in n if c not in ',;\t\r\n"').strip())
        names = names.filter(bool)
    header = draw(
        st.lists(names, min_size=1, max_size=6, unique_by=(lambda n: n.strip().lower()))
        if good_header
        else st.lists(names, min_size=1, max_size=6)
    )
    width = len(header)
    rows = draw(
        st.lists(
            # most rows as wide as the header; some not, as a broken export would have them
            st.lists(cells, min_size=width, max_size=width) | st.lists(cells, max_size=width + 2),
            min_size=1,
            max_size=8,
        )
    )
    return to_csv([header, *rows], delimiter=draw(st.sampled_from([",", ",", ";", "\t"])))


@given(raw=st.binary(max_size=200) | csv_files().map(str.encode))
def test_any_upload_decodes_to_text_or_a_clear_error(raw):
    try:
        text = decode_upload(raw)
    except ImportFileError as refused:
        event("refused")
        assert refused.message.endswith(".")
    else:
        event("text")
        assert "\x00" not in text


@given(text=csv_files() | cell_text)
def test_any_header_is_unique_names_or_a_clear_error(text):
    try:
        columns = read_header(text)
    except ImportFileError as refused:
        event("refused")
        assert refused.message.endswith(".")
        return
    event("read")
    assert columns and all(c and c == c.strip() for c in columns)
    assert len({c.lower() for c in columns}) == len(columns)
    # and the guess maps each column, every field to at most one column
    mapping = guess_mapping(columns)
    assert list(mapping) == columns
    fields = [f for f in mapping.values() if f]
    assert len(fields) == len(set(fields))


@given(text=csv_files(good_header=True), data=st.data())
def test_every_row_is_stored_or_reported_never_an_exception(text, data):
    # given a file whose header reads, mapped the way a person could map it: the key column
    # to the field customers are matched on, others to distinct fields, a metadata key or none
    try:
        columns = read_header(text)
    except ImportFileError:
        event("header refused")  # e.g. no data rows below it
        return
    match_on = data.draw(st.sampled_from(["source_id", "email"]))
    others = [f for f in IMPORT_FIELDS if f != match_on]
    fields = data.draw(st.permutations(others))
    mapping = {columns[0]: match_on}
    for column, field in zip(columns[1:], fields, strict=False):
        mapping[column] = data.draw(st.sampled_from([field, field, "", META_KEY]))
    mapping = dict(data.draw(st.permutations(list(mapping.items()))))
    assert mapping_problems(mapping, match_on) == []
    outcome = Outcome()
    # when
    try:
        stored = [row for chunk in _parse(text, mapping, match_on, outcome) for row in chunk]
    except ImportFileError as refused:
        event("file refused")
        assert refused.message.endswith(".")
        return
    # then every row counted is stored or reported, once
    event(
        {(True, True): "rows stored and reported", (True, False): "all rows stored"}.get(
            (bool(stored), bool(outcome.errors)), "all rows reported"
        )
    )
    stored_rows = {row[0] for row in stored}
    reported_rows = {row for row, _column, _problem in outcome.errors}
    assert not stored_rows & reported_rows
    assert len(stored_rows) + len(reported_rows) == outcome.total
    assert all(problem for _row, _column, problem in outcome.errors)
    # and what is stored is what PostgreSQL can hold
    metadata_at = TEMP_COLUMNS.index("metadata")
    for row in stored:
        assert row[TEMP_COLUMNS.index(match_on)]
        if row[metadata_at] is not None:
            assert isinstance(jsonvalues.loads(row[metadata_at]), dict)
        assert not any(isinstance(value, str) and "\x00" in value for value in row)


def test_metadata_cell_problems_name_the_field_path():
    # given
    text = 'id,metadata\nc1,"{""score"": NaN}"\nc2,"{""tier"": ""gold""}"\n'
    outcome = Outcome()
    # when
    stored = [
        row
        for chunk in _parse(text, {"id": "source_id", "metadata": "metadata"}, "source_id", outcome)
        for row in chunk
    ]
    # then
    assert [row[1] for row in stored] == ["c2"]
    assert json.loads(stored[0][TEMP_COLUMNS.index("metadata")]) == {"tier": "gold"}
    ((row, column, problem),) = outcome.errors
    assert (row, column) == (2, "metadata") and "“metadata.score”" in problem
