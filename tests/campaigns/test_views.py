"""Partner campaign pages: counts, the codes table, the streamed export, and the read-only rule
(no edit control for partner users; a direct POST is refused and changes nothing)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context
from guardian.core import ObjectPermissionChecker
from guardian.shortcuts import assign_perm

from apps.campaigns.models import Campaign, Voucher
from apps.campaigns.services import campaign_grant_distributors
from apps.campaigns.views import can_edit_campaign
from tests.factories import CampaignFactory, UserFactory, VoucherFactory

BASE = "/p/alpha/campaigns/"


def make_pool(campaign: Campaign, n: int, prefix: str = "CODE") -> list[Voucher]:
    return Voucher.objects.bulk_create(
        Voucher(campaign=campaign, code=f"{prefix}{i:05d}", redemption_limit=1) for i in range(n)
    )


@pytest.fixture
def pool(partner_a):
    """A campaign of 120 codes: 10 published, 5 of those redeemed, 3 disabled."""
    with schema_context(partner_a.schema_name):
        campaign = CampaignFactory(name="Spring sale", amount_off=1050)
        codes = make_pool(campaign, 120)
        ids = [v.pk for v in codes]
        Voucher.objects.filter(pk__in=ids[:10]).update(published_at=timezone.now())
        Voucher.objects.filter(pk__in=ids[:5]).update(redeemed_quantity=1)
        Voucher.objects.filter(pk__in=ids[-3:]).update(active=False)
        Campaign.objects.filter(pk=campaign.pk).update(vouchers_count=120)
        campaign.refresh_from_db()
    return campaign


def codes_on(response) -> list[str]:
    return [v.code for v in response.context["page"].items]


def test_list_shows_each_campaign_with_its_counts(client, partner_user_a, pool):
    # given
    client.force_login(partner_user_a)
    # when
    response = client.get(BASE)
    # then
    assert response.status_code == 200
    (campaign,) = response.context["campaigns"]
    assert (campaign.total, campaign.published, campaign.redeemed, campaign.available) == (
        120,
        10,
        5,
        107,
    )
    assert "10.50 off" in response.content.decode()


def test_detail_counts_come_from_one_aggregate_query(client, partner_user_a, pool):
    # given
    client.force_login(partner_user_a)
    # when
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"{BASE}{pool.pk}/")
    # then
    assert response.status_code == 200
    assert response.context["counts"] == {
        "total": 120,
        "published": 10,
        "redeemed": 5,
        "available": 107,
        "disabled": 3,
    }
    counting = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert len(counting) == 1, counting
    page = response.content.decode()
    assert "10.50 off" in page
    assert "CODE00000" in page


def test_codes_page_by_key_fifty_at_a_time(client, partner_user_a, pool):
    # given
    client.force_login(partner_user_a)
    # when walking forward, then back
    first = client.get(f"{BASE}{pool.pk}/")
    after = first.context["page"].next_after
    second = client.get(f"{BASE}{pool.pk}/?after={after}")
    third = client.get(f"{BASE}{pool.pk}/?after={second.context['page'].next_after}")
    back = client.get(f"{BASE}{pool.pk}/?before={third.context['page'].previous_before}")
    # then
    assert codes_on(first)[0] == "CODE00000" and len(codes_on(first)) == 50
    assert codes_on(second)[0] == "CODE00050"
    assert codes_on(third) == [f"CODE{i:05d}" for i in range(100, 120)]
    assert third.context["page"].has_next is False
    assert codes_on(back) == codes_on(second)
    assert f"after={after}" in first.content.decode()
    assert first.context["matching"] == 120


def test_codes_search_by_prefix_or_contains_and_status(client, partner_user_a, pool):
    # given
    client.force_login(partner_user_a)
    url = f"{BASE}{pool.pk}/"
    # when
    prefix = client.get(url, {"q": " code0001 "})
    contains = client.get(url, {"q": "0011", "match": "contains"})
    redeemed = client.get(url, {"status": "redeemed"})
    published = client.get(url, {"status": "published"})
    disabled = client.get(url, {"status": "disabled", "q": "CODE0011"})
    nothing = client.get(url, {"q": "NOPE"})
    bad = client.get(url, {"status": "<script>", "after": "x"})
    # then
    assert codes_on(prefix) == [f"CODE{i:05d}" for i in range(10, 20)]
    assert codes_on(contains) == ["CODE00011"] + [f"CODE{i:05d}" for i in range(110, 120)]
    assert codes_on(redeemed) == [f"CODE{i:05d}" for i in range(5)]
    assert codes_on(published) == [f"CODE{i:05d}" for i in range(5, 10)]
    assert codes_on(disabled) == ["CODE00117", "CODE00118", "CODE00119"]
    assert codes_on(nothing) == []
    assert "No matching codes" in nothing.content.decode()
    assert bad.status_code == 200 and len(codes_on(bad)) == 50


def test_htmx_request_gets_only_the_codes_table(client, partner_user_a, pool):
    # given
    client.force_login(partner_user_a)
    # when
    response = client.get(f"{BASE}{pool.pk}/", {"q": "CODE0002"}, headers={"HX-Request": "true"})
    # then
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="codes">')
    assert "CODE00020" in body and "<html" not in body


def read_csv(response) -> list[list[str]]:
    # The body is produced only now, after the request finished (as a WSGI server would).
    assert response.streaming
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_export_streams_every_code_with_its_status(client, partner_user_a, pool):
    # given
    client.force_login(partner_user_a)
    # when
    response = client.get(f"{BASE}{pool.pk}/codes.csv")
    rows = read_csv(response)
    # then
    assert response["Content-Type"].startswith("text/csv")
    assert "spring-sale-codes.csv" in response["Content-Disposition"]
    assert rows[0] == ["code", "status", "redeemed_quantity", "published_at", "created_at"]
    assert len(rows) == 121
    assert rows[1][:3] == ["CODE00000", "used up", "1"]
    assert rows[6][:3] == ["CODE00005", "published", "0"] and rows[6][3]
    assert rows[11][:4] == ["CODE00010", "available", "0", ""]
    assert rows[120][:2] == ["CODE00119", "disabled"]
    dt.datetime.fromisoformat(rows[1][4])


def test_export_can_be_limited_to_a_status(client, partner_user_a, pool):
    # given
    client.force_login(partner_user_a)
    # when
    rows = read_csv(client.get(f"{BASE}{pool.pk}/codes.csv", {"status": "published"}))
    # then
    assert [r[0] for r in rows[1:]] == [f"CODE{i:05d}" for i in range(5, 10)]


def test_export_reads_through_a_server_side_cursor(client, partner_user_a, pool, monkeypatch):
    # given a small chunk size, so the 120 codes take several fetches from one cursor
    monkeypatch.setattr("apps.campaigns.selectors.EXPORT_CHUNK", 25)
    client.force_login(partner_user_a)
    # when
    with CaptureQueriesContext(connection) as queries:
        rows = read_csv(client.get(f"{BASE}{pool.pk}/codes.csv"))
    # then
    assert len(rows) == 121
    voucher_reads = [q["sql"] for q in queries if '"campaigns_voucher"' in q["sql"]]
    # one named server-side cursor, fetched in chunks: no LIMIT/OFFSET loop, no full load
    assert len(voucher_reads) == 1
    assert voucher_reads[0].startswith("DECLARE ")
    assert " OFFSET " not in voucher_reads[0]


def test_partner_user_sees_no_edit_control(client, partner_user_a, brand_admin, pool):
    # when
    client.force_login(partner_user_a)
    as_partner = client.get(f"{BASE}{pool.pk}/").content.decode()
    client.force_login(brand_admin)
    as_brand = client.get(f"{BASE}{pool.pk}/").content.decode()
    # then
    assert 'data-testid="edit-campaign"' not in as_partner
    assert f"{BASE}{pool.pk}/edit/" not in as_partner
    assert 'data-testid="edit-campaign"' in as_brand


def test_partner_user_post_to_edit_is_refused_and_changes_nothing(
    client, partner_user_a, partner_a, pool
):
    # given the grants an allocation gives partner users
    client.force_login(partner_user_a)
    with schema_context(partner_a.schema_name):
        campaign_grant_distributors(campaign=pool, partner_id=partner_a.pk)
        before = Campaign.objects.values().get(pk=pool.pk)
    # when
    get = client.get(f"{BASE}{pool.pk}/edit/")
    post = client.post(
        f"{BASE}{pool.pk}/edit/",
        {"name": "Hacked", "description": "", "active": "", "expiration_date": "2020-01-01"},
    )
    # then
    assert (get.status_code, post.status_code) == (403, 403)
    with schema_context(partner_a.schema_name):
        assert Campaign.objects.values().get(pk=pool.pk) == before
        campaign = Campaign.objects.get(pk=pool.pk)
        # ...and guardian agrees: a partner user may distribute, never change
        assert ObjectPermissionChecker(partner_user_a).has_perm("distribute_campaign", campaign)
        assert not ObjectPermissionChecker(partner_user_a).has_perm("change_campaign", campaign)
        assert not partner_user_a.has_perm("campaigns.change_campaign", campaign)
        assert not can_edit_campaign(partner_user_a, campaign)


def test_brand_admin_edits_name_active_and_expiry(client, brand_admin, partner_a, pool):
    # given an allocation job moved the code count after the page was loaded
    client.force_login(brand_admin)
    assert client.get(f"{BASE}{pool.pk}/edit/").status_code == 200
    with schema_context(partner_a.schema_name):
        Campaign.objects.filter(pk=pool.pk).update(vouchers_count=220)
    # when
    response = client.post(
        f"{BASE}{pool.pk}/edit/",
        {
            "name": "Summer sale",
            "description": "Now in summer",
            "expiration_date": "2031-06-30T18:00",
        },
    )
    # then
    assert response.status_code == 302
    with schema_context(partner_a.schema_name):
        campaign = Campaign.objects.get(pk=pool.pk)
    assert (campaign.name, campaign.description, campaign.active) == (
        "Summer sale",
        "Now in summer",
        False,
    )
    assert timezone.localtime(campaign.expiration_date).strftime("%Y-%m-%d %H:%M") == (
        "2031-06-30 18:00"
    )
    assert campaign.vouchers_count == 220  # only the edited columns were written


def test_edit_refuses_an_expiry_before_the_start(client, brand_admin, partner_a, pool):
    # given
    with schema_context(partner_a.schema_name):
        Campaign.objects.filter(pk=pool.pk).update(
            start_date=timezone.make_aware(dt.datetime(2030, 1, 1))
        )
    client.force_login(brand_admin)
    # when
    response = client.post(
        f"{BASE}{pool.pk}/edit/",
        {"name": "Spring sale", "active": "on", "expiration_date": "2029-12-31T00:00"},
    )
    # then
    assert response.status_code == 400
    assert "must come after the start" in response.content.decode()
    with schema_context(partner_a.schema_name):
        assert Campaign.objects.get(pk=pool.pk).expiration_date is None


def test_object_permission_is_the_second_lock(partner_a, partner_user_a, brand_admin, pool):
    # given someone explicitly granted change_campaign on one campaign
    editor = UserFactory()
    with schema_context(partner_a.schema_name):
        campaign = Campaign.objects.get(pk=pool.pk)
        other = CampaignFactory()
        assign_perm("campaigns.change_campaign", editor, campaign)
        # then
        assert can_edit_campaign(brand_admin, campaign)
        assert can_edit_campaign(editor, campaign)
        assert not can_edit_campaign(editor, other)
        assert not can_edit_campaign(partner_user_a, campaign)


def test_campaign_pages_of_another_partner_are_404(client, partner_user_b, pool):
    # given
    client.force_login(partner_user_b)
    # when / then
    for url in (BASE, f"{BASE}{pool.pk}/", f"{BASE}{pool.pk}/codes.csv", f"{BASE}{pool.pk}/edit/"):
        assert client.get(url).status_code == 404, url


def test_empty_campaign_list_says_what_to_expect(client, partner_user_a):
    # given
    client.force_login(partner_user_a)
    # when
    response = client.get(BASE)
    # then
    assert "No campaigns yet" in response.content.decode()


def test_detail_warns_when_the_pool_runs_low(client, partner_user_a, partner_a):
    # given a campaign of 20 codes with 19 handed out
    with schema_context(partner_a.schema_name):
        campaign = CampaignFactory(name="Nearly gone")
        for i in range(20):
            VoucherFactory(
                campaign=campaign,
                code=f"LOW{i:03d}",
                published_at=timezone.now() if i else None,
            )
    client.force_login(partner_user_a)
    # when
    page = client.get(f"/p/alpha/campaigns/{campaign.pk}/").content.decode()
    # then
    assert "Pool low: 1 of 20 codes left to publish" in page
