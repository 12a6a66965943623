"""Numbers PostgreSQL cannot store in a customer's metadata, from the portal form and from a CSV
import: a form error, or a per-row line of the import's error report naming the field path,
while the rest of the file imports."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from apps.customers.models import Customer, CustomerImport
from tests.customers import test_import
from tests.customers.test_customers import BASE, form
from tests.customers.test_import import report

run_import = test_import.run_import  # the fixture: upload, map, run the job

BAD_METADATA = [
    ('{"score": NaN}', "“metadata.score”"),
    ('{"a": {"b": [Infinity]}}', "“metadata.a.b[0]”"),
    ('{"n": 99999999999999999999}', "whole numbers must be from"),
    ('{"n": ' + "1" * 5000 + "}", "5,000 digits"),
]


@pytest.mark.parametrize(("metadata", "words"), BAD_METADATA)
def test_customer_form_refuses_metadata_that_cannot_be_stored(
    client, partner_user_a, partner_a, metadata, words
):
    # given
    client.force_login(partner_user_a)
    # when
    response = client.post(f"{BASE}new/", form(metadata=metadata))
    # then
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="id_metadata_error"' in body
    assert words in body
    with schema_context("p_alpha"):
        assert not Customer.objects.exists()


def test_import_reports_bad_metadata_per_row_and_imports_the_rest(
    client, partner_user_a, partner_a, run_import
):
    # given a file whose metadata column holds, row by row, each kind of bad number
    client.force_login(partner_user_a)
    lines = ["id,metadata", 'ok-1,"{""tier"": ""gold""}"']
    for index, (metadata, _words) in enumerate(BAD_METADATA):
        lines.append(f'bad-{index},"{metadata.replace(chr(34), chr(34) * 2)}"')
    lines.append('ok-2,"{""visits"": 9223372036854775807}"')
    # when
    done = run_import("\n".join(lines) + "\n", {"id": "source_id", "metadata": "metadata"})
    # then
    assert done.status == CustomerImport.Status.SUCCEEDED, done.message
    assert (done.rows_total, done.rows_created, done.rows_failed) == (6, 2, 4)
    problems = report(done)
    assert [(row, column) for row, column, _ in problems] == [
        ("3", "metadata"),
        ("4", "metadata"),
        ("5", "metadata"),
        ("6", "metadata"),
    ]
    for (_row, _column, problem), (_metadata, words) in zip(problems, BAD_METADATA, strict=True):
        assert words in problem
    with schema_context("p_alpha"):
        assert dict(Customer.objects.values_list("source_id", "metadata")) == {
            "ok-1": {"tier": "gold"},
            "ok-2": {"visits": 9223372036854775807},
        }
