"""The brand dashboard reads partners' numbers from the public rollups only."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import re

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from apps import rollups
from apps.brand import selectors
from apps.brand.models import DailyRedemptions, PartnerProgramStats
from tests.factories import ProgramFactory


def stats(partner, program, **numbers):
    return PartnerProgramStats.objects.create(partner=partner, program=program, **numbers)


def cells(row_html: str) -> list[str]:
    """The first four number cells after a partner's name."""
    return [c.strip() for c in re.findall(r'class="num">([^<]+)<', row_html)[:4]]


def test_empty_dashboard_says_what_to_do(client, brand_admin, partner_a):
    client.force_login(brand_admin)
    page = client.get("/brand/").content.decode()
    assert "Nothing to show yet" in page
    assert "data-chart" not in page and "Export CSV" not in page


def test_dashboard_sums_each_partners_programs(client, brand_admin, partner_a, partner_b):
    # given two programs at alpha and one at beta, beta with nothing published yet
    spring, autumn = ProgramFactory(), ProgramFactory()
    last = timezone.now() - dt.timedelta(hours=2)
    stats(partner_a, spring, allocated=1000, published=400, redeemed=100, last_activity_at=last)
    stats(partner_a, autumn, allocated=500, published=100, redeemed=25)
    stats(partner_b, spring, allocated=200, published=0, redeemed=10)
    client.force_login(brand_admin)
    # when
    page = client.get("/brand/").content.decode()
    # then
    table = page[page.index('data-testid="partner-performance"') :]
    alpha = table[table.index("Alpha Retail") : table.index("Beta Travel")]
    beta = table[table.index("Beta Travel") :]
    assert cells(alpha) == ["1,500", "500", "125", "25.0%"]
    assert timezone.localtime(last).strftime("%Y-%m-%d %H:%M") in alpha
    assert cells(beta) == ["200", "0", "10", "5.0%"]
    assert "of allocated" in beta and "of allocated" not in alpha
    assert '<div class="stat-value" data-testid="total-redeemed">135</div>' in page


def reads(capture: CaptureQueriesContext) -> list[str]:
    # django-tenants may set the search path first; that is not a read.
    return [q["sql"] for q in capture.captured_queries if not q["sql"].startswith("SET ")]


def test_dashboard_reads_one_query_for_the_table_and_one_for_the_chart(partner_a, partner_b):
    # given
    for partner in (partner_a, partner_b):
        for _ in range(3):
            stats(partner, ProgramFactory(), allocated=10)
        DailyRedemptions.objects.create(partner=partner, day=timezone.localdate(), redeemed=2)
    # when / then
    with CaptureQueriesContext(connection) as table_queries:
        rows = selectors.dashboard_rows()
    with CaptureQueriesContext(connection) as chart_queries:
        chart = selectors.redemptions_chart()
    assert len(reads(table_queries)) == 1 and "brand_partnerprogramstats" in reads(table_queries)[0]
    assert len(reads(chart_queries)) == 1 and "brand_dailyredemptions" in reads(chart_queries)[0]
    assert [r.allocated for r in rows] == [30, 30]
    assert [d["data"][-1] for d in chart["data"]["datasets"]] == [2, 2]


def test_chart_has_one_line_per_partner_over_thirty_days(client, brand_admin, partner_a, partner_b):
    # given
    today = timezone.localdate()
    DailyRedemptions.objects.create(partner=partner_a, day=today, redeemed=7)
    DailyRedemptions.objects.create(partner=partner_a, day=today - dt.timedelta(days=3), redeemed=2)
    DailyRedemptions.objects.create(
        partner=partner_b, day=today - dt.timedelta(days=29), redeemed=1
    )
    DailyRedemptions.objects.create(
        partner=partner_b, day=today - dt.timedelta(days=30), redeemed=99
    )
    stats(partner_a, ProgramFactory(), allocated=10, redeemed=9)
    client.force_login(brand_admin)
    # when
    page = client.get("/brand/").content.decode()
    # then
    assert "vendor/chart.js/chart.umd.min.js" in page
    config = json.loads(html.unescape(re.search(r'data-chart="([^"]+)"', page).group(1)))
    assert config["type"] == "line" and len(config["data"]["labels"]) == 30
    lines = {d["label"]: d["data"] for d in config["data"]["datasets"]}
    assert lines["Alpha Retail"][-1] == 7 and lines["Alpha Retail"][-4] == 2
    assert sum(lines["Alpha Retail"]) == 9
    assert lines["Beta Travel"][0] == 1 and sum(lines["Beta Travel"]) == 1


def test_redemptions_recorded_by_a_partner_show_on_the_dashboard(client, brand_admin, partner_a):
    # given the rollups a partner-side redemption writes, in the partner's schema
    program = ProgramFactory()
    with schema_context(partner_a.schema_name):
        rollups.record_allocated(program_id=program.pk, quantity=50)
        rollups.record_published(program_id=program.pk, quantity=20)
        for _ in range(3):
            rollups.record_redemption(
                program_id=program.pk, discount=500, when=timezone.now(), delta=1
            )
    client.force_login(brand_admin)
    # when
    page = client.get("/brand/").content.decode()
    # then
    alpha = page[page.index("Alpha Retail", page.index('data-testid="partner-performance"')) :]
    assert cells(alpha) == ["50", "20", "3", "15.0%"]


def test_csv_export_streams_the_table(client, brand_admin, partner_a, partner_b):
    # given
    program = ProgramFactory()
    stats(partner_a, program, allocated=100, published=50, redeemed=5, discount_total=2500)
    stats(partner_b, program, allocated=10)
    client.force_login(brand_admin)
    # when
    response = client.get("/brand/export.csv")
    # then
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:7] == [
        "partner",
        "slug",
        "codes_allocated",
        "codes_published",
        "codes_redeemed",
        "redemption_rate_percent",
        "rate_of",
    ]
    assert rows[1][:8] == ["Alpha Retail", "alpha", "100", "50", "5", "10.0", "published", "2500"]
    assert rows[2][:7] == ["Beta Travel", "beta", "10", "0", "0", "0.0", "allocated"]
