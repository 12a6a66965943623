"""The customer CSV import: upload checks, column mapping, and the background job that stores
valid rows, reports bad ones (row, column, problem) and never wipes existing data."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from apps.core.models import JobRun
from apps.customers.importing import MAX_IMPORT_BYTES, decode_upload, guess_mapping
from apps.customers.models import Customer, CustomerImport, Event

BASE = "/p/alpha/customers/"
FULL_MAPPING = {
    "customer_id": "source_id",
    "Full name": "name",
    "E-mail": "email",
    "Phone": "phone",
    "Birthdate": "birthdate",
    "Newsletter": "email_consent",
    "tier": "meta",
}
HEADER = "customer_id,Full name,E-mail,Phone,Birthdate,Newsletter,tier\n"


def upload(client, text: str | bytes, name: str = "people.csv"):
    content = text.encode() if isinstance(text, str) else text
    return client.post(
        f"{BASE}imports/new/", {"file": SimpleUploadedFile(name, content, "text/csv")}
    )


def start(client, import_id: int, mapping: dict[str, str], match_on: str = "source_id", **kw):
    with schema_context("p_alpha"):
        customer_import = CustomerImport.objects.get(pk=import_id)
    columns = list(csv.reader(io.StringIO(customer_import.content.split("\n", 1)[0])))[0]
    data = {f"col_{i}": mapping.get(column, "") for i, column in enumerate(columns)}
    data["match_on"] = match_on
    return client.post(f"{BASE}imports/{import_id}/mapping/", data, **kw)


@pytest.fixture
def run_import(client, run_jobs, django_capture_on_commit_callbacks):
    """Upload, map and run the job; returns the finished CustomerImport (in p_alpha)."""

    def run(text: str, mapping=None, match_on="source_id"):
        import_id = uploaded(client, text)
        with django_capture_on_commit_callbacks(execute=True):
            response = start(client, import_id, mapping or FULL_MAPPING, match_on)
        assert response.status_code == 302, response.content.decode()[-2000:]
        run_jobs()
        with schema_context("p_alpha"):
            return CustomerImport.objects.get(pk=import_id)

    return run


def uploaded(client, text: str) -> int:
    response = upload(client, text)
    assert response.status_code == 302, response.content.decode()[-2000:]
    return int(response["Location"].rstrip("/").split("/")[-2])


def report(customer_import) -> list[tuple[str, str, str]]:
    rows = list(csv.reader(io.StringIO(customer_import.error_report)))
    assert rows[0] == ["row", "column", "problem"]
    return [tuple(r) for r in rows[1:]]


def test_guess_mapping_reads_common_header_names():
    # when
    mapping = guess_mapping(["Customer ID", "E-mail", "Mobile", "ZIP", "DOB", "Shoe size"])
    # then
    assert mapping == {
        "Customer ID": "source_id",
        "E-mail": "email",
        "Mobile": "phone",
        "ZIP": "postal_code",
        "DOB": "birthdate",
        "Shoe size": "",
    }


def test_decode_accepts_a_bom_and_names_the_line_of_a_bad_byte():
    # given / when / then
    assert decode_upload(b"\xef\xbb\xbfname\nAnn\n") == "name\nAnn\n"
    with pytest.raises(ValueError, match="line 3 has the byte 0xE9"):
        decode_upload(b"name\nAnn\nRen\xe9e\n")


def test_upload_in_latin1_is_refused_with_the_line(client, partner_user_a, partner_a):
    # given
    client.force_login(partner_user_a)
    # when
    response = upload(client, "source_id,name\n1,Ann\n2,Ren\xe9e\n".encode("latin-1"))
    # then
    assert response.status_code == 400
    assert "line 3 has the byte 0xE9" in response.content.decode()
    with schema_context("p_alpha"):
        assert not CustomerImport.objects.exists()


def test_upload_too_large_is_refused(client, partner_user_a, partner_a):
    # given a file one byte over the limit
    client.force_login(partner_user_a)
    content = b"source_id\n" + b"x" * (MAX_IMPORT_BYTES - 9)
    # when
    response = upload(client, content)
    # then
    assert response.status_code == 400
    assert "at most 20 MB" in response.content.decode()


def test_upload_with_duplicate_header_is_refused(client, partner_user_a, partner_a):
    client.force_login(partner_user_a)
    response = upload(client, "email,name,Email\na@x.test,Ann,b@x.test\n")
    assert response.status_code == 400
    assert "appears twice in the header row (columns 1 and 3)" in response.content.decode()


def test_mapping_page_guesses_and_refuses_a_missing_key_column(client, partner_user_a, partner_a):
    # given
    client.force_login(partner_user_a)
    import_id = uploaded(client, "Name,E-mail\nAnn,ann@x.test\n")
    page = client.get(f"{BASE}imports/{import_id}/mapping/")
    assert page.status_code == 200
    assert 'value="email" selected' in page.content.decode()
    # when matching on source ID while no column holds it
    response = start(client, import_id, {"Name": "name", "E-mail": "email"}, "source_id")
    # then
    assert response.status_code == 400
    assert "no column is mapped to Source ID" in response.content.decode()
    with schema_context("p_alpha"):
        assert CustomerImport.objects.get(pk=import_id).status == CustomerImport.Status.MAPPING


def test_import_stores_good_rows_and_reports_bad_ones(
    client, partner_user_a, partner_a, run_import
):
    # given
    client.force_login(partner_user_a)
    text = HEADER + (
        "c1,Ann Lee,Ann@X.test,+44 20-7946-0958,1990-04-23,yes,gold\n"
        "c2,Bob,not-an-email,,,no,\n"
        "c3,Cleo,cleo@x.test,12345,2999-01-01,maybe,\n"
        ",Dan,dan@x.test,,,,\n"
        "c5,Eve,eve@x.test,,,,silver\n"
    )
    # when
    done = run_import(text)
    # then
    assert done.status == CustomerImport.Status.SUCCEEDED, done.message
    assert (done.rows_total, done.rows_created, done.rows_failed) == (5, 2, 3)
    problems = report(done)
    columns = {(row, column) for row, column, _ in problems}
    assert columns == {
        ("3", "E-mail"),
        ("4", "Phone"),
        ("4", "Birthdate"),
        ("4", "Newsletter"),
        ("5", "customer_id"),
    }
    assert any("e.g. +14155550123" in p for _, _, p in problems)
    with schema_context("p_alpha"):
        ann = Customer.objects.get(source_id="c1")
        assert (ann.email, ann.phone, str(ann.birthdate)) == (
            "ann@x.test",
            "+442079460958",
            "1990-04-23",
        )
        assert ann.metadata == {"tier": "gold"}
        assert ann.email_consent and ann.email_consent_source == "import"
        assert ann.email_consent_at is not None
        assert set(Customer.objects.values_list("source_id", flat=True)) == {"c1", "c5"}
        assert Event.objects.filter(type="customer.created").count() == 2
    # and the report downloads as CSV
    response = client.get(f"{BASE}imports/{done.pk}/errors.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response.content.startswith(b"row,column,problem")


def test_reimport_updates_without_wiping(client, partner_user_a, partner_a, run_import):
    # given a customer with data the file does not repeat
    client.force_login(partner_user_a)
    with schema_context("p_alpha"):
        Customer.objects.create(
            source_id="c1",
            name="Ann",
            email="ann@x.test",
            phone="+14155550123",
            city="Leeds",
            metadata={"vip": True},
        )
    text = HEADER + "c1,Ann Lee,,,,yes,gold\nc2,Bob,bob@x.test,,,,\n"
    # when
    done = run_import(text)
    # then the given values changed, the empty ones kept theirs
    assert (done.rows_created, done.rows_updated, done.rows_failed) == (1, 1, 0)
    with schema_context("p_alpha"):
        ann = Customer.objects.get(source_id="c1")
        assert (ann.name, ann.email, ann.phone, ann.city) == (
            "Ann Lee",
            "ann@x.test",
            "+14155550123",
            "Leeds",
        )
        assert ann.metadata == {"vip": True, "tier": "gold"}
        assert ann.email_consent
    # and importing the same file again changes nothing
    again = run_import(text)
    assert (again.rows_created, again.rows_updated) == (0, 0)
    assert "2 unchanged" in again.message


def test_duplicates_in_file_last_wins_and_conflicts_are_reported(
    client, partner_user_a, partner_a, run_import
):
    # given an existing customer holding an email
    client.force_login(partner_user_a)
    with schema_context("p_alpha"):
        Customer.objects.create(source_id="old", email="taken@x.test")
    text = HEADER + (
        "c1,First,,,,,\n"
        "c1,Second,,,,,\n"
        "c2,Thief,taken@x.test,,,,\n"
        "c3,Share A,same@x.test,,,,\n"
        "c4,Share B,same@x.test,,,,\n"
    )
    # when
    done = run_import(text)
    # then
    problems = {(row, column): problem for row, column, problem in report(done)}
    assert set(problems) == {("2", "customer_id"), ("4", "E-mail"), ("5", "E-mail")}
    assert "row 3" in problems[("2", "customer_id")]
    assert "already belongs to another customer" in problems[("4", "E-mail")]
    with schema_context("p_alpha"):
        assert Customer.objects.get(source_id="c1").name == "Second"
        assert Customer.objects.get(source_id="c4").email == "same@x.test"
        assert not Customer.objects.filter(source_id__in=["c2", "c3"]).exists()
        assert Customer.objects.get(source_id="old").email == "taken@x.test"


def test_import_matching_on_email(client, partner_user_a, partner_a, run_import):
    # given
    client.force_login(partner_user_a)
    with schema_context("p_alpha"):
        Customer.objects.create(email="ann@x.test", name="Ann")
        Customer.objects.create(email="kim@x.test", source_id="k-1")
    text = "email,name,id\nANN@x.test,Ann Lee,a-1\nkim@x.test,Kim,k-2\nnew@x.test,New,\n"
    mapping = {"email": "email", "name": "name", "id": "source_id"}
    # when
    done = run_import(text, mapping=mapping, match_on="email")
    # then
    assert (done.rows_created, done.rows_updated, done.rows_failed) == (1, 1, 1)
    ((row, column, problem),) = report(done)
    assert (row, column) == ("3", "id") and "does not replace it" in problem
    with schema_context("p_alpha"):
        ann = Customer.objects.get(email="ann@x.test")
        assert (ann.name, ann.source_id) == ("Ann Lee", "a-1")
        assert Customer.objects.get(email="kim@x.test").source_id == "k-1"


def test_import_job_progress_is_shown(client, partner_user_a, partner_a, run_import):
    # given
    client.force_login(partner_user_a)
    done = run_import(HEADER + "c1,Ann,,,,,\n")
    # when
    page = client.get(f"{BASE}imports/{done.pk}/")
    # then
    assert page.status_code == 200
    job_run = JobRun.objects.get(pk=done.job_run_id)
    assert job_run.status == JobRun.Status.SUCCEEDED and job_run.progress == 100
    assert f"/p/alpha/jobs/{job_run.pk}/" in page.content.decode()


@pytest.mark.slow  # big data: 10,000 rows
def test_ten_thousand_rows_import_in_few_queries(
    client, partner_user_a, partner_a, run_jobs, django_capture_on_commit_callbacks
):
    # given 10,000 rows, every 100th with a bad phone
    client.force_login(partner_user_a)
    lines = [
        f"c{i},Person {i},p{i}@x.test,{'oops' if i % 100 == 0 else '+1415555' + str(i).zfill(4)},,,"
        for i in range(10_000)
    ]
    text = HEADER + "\n".join(lines) + "\n"
    import_id = uploaded(client, text)
    with django_capture_on_commit_callbacks(execute=True):
        start(client, import_id, FULL_MAPPING)
    # when
    with CaptureQueriesContext(connection) as queries:
        run_jobs()
    # then
    assert len(queries) < 40, [q["sql"][:80] for q in queries]
    with schema_context("p_alpha"):
        done = CustomerImport.objects.get(pk=import_id)
        assert (done.rows_total, done.rows_created, done.rows_failed) == (10_000, 9_900, 100)
        assert Customer.objects.count() == 9_900


def test_another_partners_import_is_404(client, partner_user_b, partner_a, partner_b):
    # given an import of partner alpha
    with schema_context("p_alpha"):
        customer_import = CustomerImport.objects.create(filename="a.csv", content="a\n1\n")
    client.force_login(partner_user_b)
    # when partner beta's user asks for it under beta's portal
    response = client.get(f"/p/beta/customers/imports/{customer_import.pk}/")
    # then
    assert response.status_code == 404
