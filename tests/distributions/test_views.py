"""The distributions pages: list (filters, counts without a query per row, CSV), detail with
its polled metrics fragment, the actions (pause, resume, archive, duplicate, delete a draft)
and who may see or do what."""

from __future__ import annotations

import csv
import io
from functools import partial

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from apps.distributions.models import Activity, Distribution
from apps.tenancy.urlconf import partner_reverse
from tests.distributions import metrics_data as data

BASE = "/p/alpha/distributions/"


def in_alpha(partner, fn, *args, **kwargs):
    with schema_context(partner.schema_name):
        return fn(*args, **kwargs)


def fresh(partner, pk: int) -> Distribution:
    with schema_context(partner.schema_name):
        return Distribution.objects.get(pk=pk)


def toasts(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- List ----------------------------------------------------------------------------------


def test_list_shows_each_distribution_with_its_counts(client, partner_a, partner_user_a):
    # given the metrics scenario (4 first messages sent, 1 code redeemed) and a paused one
    rows = in_alpha(partner_a, data.scenario)
    paused = in_alpha(
        partner_a, data.distribution, name="Dry pool", status="paused", pause_reason="pool_empty"
    )
    client.force_login(partner_user_a)
    # when
    response = client.get(BASE)
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert "Spring welcome" in html and "Dry pool" in html
    assert "Paused: pool empty" in html
    table = {r["distribution"].pk: r for r in response.context["rows"]}
    d = rows["distribution"]
    assert (table[d.pk]["counts"].sent, table[d.pk]["counts"].redeemed) == (4, 1)
    assert table[d.pk]["channels"] == "Email, SMS"
    assert (table[paused.pk]["counts"].sent, table[paused.pk]["counts"].redeemed) == (0, 0)


def test_list_queries_do_not_grow_with_rows(client, partner_a, partner_user_a):
    client.force_login(partner_user_a)
    in_alpha(partner_a, data.scenario)  # two distributions
    client.get(BASE)  # warm up session and caches
    with CaptureQueriesContext(connection) as two:
        assert client.get(BASE).status_code == 200

    # when eight more distributions, each with codes and messages, are listed
    def more():
        for _ in range(8):
            d = data.distribution()
            who = data.customer()
            data.message(d, who, "email", "sent")
            data.redeem(data.publish(d, who))

    in_alpha(partner_a, more)
    with CaptureQueriesContext(connection) as ten:
        response = client.get(BASE)
    # then the page takes as many queries for ten rows as for two
    assert len(response.context["rows"]) == 10
    assert len(ten) == len(two)


def test_list_filters_by_status_type_and_search(client, partner_a, partner_user_a):
    def make():
        data.distribution(name="Live mail", status="live")
        data.distribution(name="Old mail", status="completed")
        data.distribution(name="Paid trigger", kind="automatic", status="live", audience="event")
        data.distribution(name="Draft mail", status="draft", step=3)

    in_alpha(partner_a, make)
    client.force_login(partner_user_a)

    def names(query: str) -> list[str]:
        response = client.get(BASE + query)
        assert response.status_code == 200
        return sorted(r["distribution"].name for r in response.context["rows"])

    assert names("?status=live") == ["Live mail", "Paid trigger"]
    assert names("?type=automatic") == ["Paid trigger"]
    assert names("?q=MAIL&status=completed") == ["Old mail"]
    assert names("?q=nothing-like-it") == []
    # an unknown filter value is ignored rather than answered with an error
    assert len(names("?status=bogus&type=bogus")) == 4


def test_list_paginates(client, partner_a, partner_user_a):
    def make():
        for n in range(30):
            data.distribution(name=f"Batch {n:02d}", status="completed")

    in_alpha(partner_a, make)
    client.force_login(partner_user_a)
    first = client.get(BASE + "?status=completed")
    second = client.get(BASE + "?status=completed&page=2")
    assert len(first.context["rows"]) == 25 and len(second.context["rows"]) == 5
    assert "status=completed&amp;page=2" in first.content.decode()


def test_empty_list_offers_a_new_distribution(client, partner_a, partner_user_a):
    client.force_login(partner_user_a)
    response = client.get(BASE)
    html = response.content.decode()
    assert "No distributions yet" in html
    assert f'href="{partner_reverse("alpha", "distributions:new")}"' in html


def test_draft_row_continues_at_the_next_step(client, partner_a, partner_user_a):
    # given a draft that completed step 3, and one that completed all seven
    early = in_alpha(partner_a, data.distribution, name="Early", status="draft", step=3)
    done = in_alpha(partner_a, data.distribution, name="Done", status="draft", step=7)
    client.force_login(partner_user_a)
    # when
    html = client.get(BASE).content.decode()
    # then "Continue" opens the wizard at step 4, and at most at step 7
    wizard = partial(partner_reverse, "alpha", "distributions:wizard")
    assert f'href="{wizard(distribution_id=early.pk, step=4)}"' in html
    assert f'href="{wizard(distribution_id=done.pk, step=7)}"' in html


def test_htmx_filter_answers_with_the_table_only(client, partner_a, partner_user_a):
    in_alpha(partner_a, data.distribution, name="Only one")
    client.force_login(partner_user_a)
    response = client.get(BASE + "?q=only", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert 'id="distributions"' in html and "Only one" in html
    assert "<html" not in html


# --- CSV export ----------------------------------------------------------------------------


def test_export_csv_has_every_row_and_its_counts(client, partner_a, partner_user_a):
    rows = in_alpha(partner_a, data.scenario)
    in_alpha(partner_a, data.distribution, name="Draft, with comma", status="draft", step=1)
    client.force_login(partner_user_a)
    # when
    response = client.get(BASE + "export.csv")
    # then
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    lines = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    by_name = {line["name"]: line for line in lines}
    assert set(by_name) == {"Spring welcome", "Other one", "Draft, with comma"}
    spring = by_name["Spring welcome"]
    assert spring["id"] == str(rows["distribution"].pk)
    assert (spring["messages_sent"], spring["codes_redeemed"]) == ("4", "1")
    assert (spring["status"], spring["channels"], spring["audience_size"]) == (
        "Live",
        "email sms",
        "5",
    )
    assert by_name["Draft, with comma"]["status"] == "Draft"


def test_export_csv_follows_the_filters(client, partner_a, partner_user_a):
    in_alpha(partner_a, data.scenario)
    in_alpha(partner_a, data.distribution, name="A draft", status="draft", step=1)
    client.force_login(partner_user_a)
    response = client.get(BASE + "export.csv?status=draft")
    lines = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [line["name"] for line in lines] == ["A draft"]


# --- Detail and metrics fragment -----------------------------------------------------------


def test_detail_shows_the_metrics_and_polls_while_live(client, partner_a, partner_user_a):
    d = in_alpha(partner_a, data.scenario)["distribution"]
    client.force_login(partner_user_a)
    # when
    response = client.get(f"{BASE}{d.pk}/")
    # then the numbers are on the page
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="metric-published">4<' in html
    assert 'data-testid="metric-redeemed">1<' in html
    assert 'data-testid="metric-rate">25.0%<' in html
    assert 'data-testid="metric-sent">4<' in html
    assert 'data-testid="metric-reminders">1<' in html
    assert "smtp_refused" in html and "550 mailbox full" in html
    # and it polls the fragment, with the chart's numbers in a hidden table too
    assert f'hx-get="/p/alpha/distributions/{d.pk}/metrics/?status=live"' in html
    assert 'hx-trigger="every 3s"' in html
    assert 'data-testid="chart-table"' in html and 'id="metrics-chart-data"' in html
    assert "vendor/chart.js/chart.umd.min.js" in html and "cdn" not in html.lower()
    # and a partner user may pause, duplicate and archive it
    for action in ("pause", "duplicate", "archive"):
        assert f"/p/alpha/distributions/{d.pk}/{action}/" in html


def test_metrics_fragment_answers_fresh_numbers(client, partner_a, partner_user_a):
    d = in_alpha(partner_a, data.distribution, name="Growing", audience_size=3)
    client.force_login(partner_user_a)
    url = f"{BASE}{d.pk}/metrics/?status=live"
    first = client.get(url, headers={"HX-Request": "true"})
    assert 'data-testid="metric-published">0<' in first.content.decode()

    # when codes are published and a message sent meanwhile
    def progress():
        who = data.customer()
        data.publish(d, who)
        data.message(d, who, "email", "delivered")

    in_alpha(partner_a, progress)
    second = client.get(url, headers={"HX-Request": "true"})
    # then the fragment (not a whole page) has the new numbers and keeps polling
    html = second.content.decode()
    assert second.status_code == 200 and "<html" not in html
    assert 'data-testid="metric-published">1<' in html
    assert 'data-testid="metric-delivered">1<' in html
    assert 'hx-trigger="every 3s"' in html
    assert "HX-Refresh" not in second


def test_metrics_fragment_stops_polling_when_completed(client, partner_a, partner_user_a):
    d = in_alpha(partner_a, data.distribution, name="Finishing")
    client.force_login(partner_user_a)
    # given the page was drawn while live, and the fan-out completed since
    in_alpha(partner_a, Distribution.objects.filter(pk=d.pk).update, status="completed")
    # when the fragment is polled
    response = client.get(f"{BASE}{d.pk}/metrics/?status=live", headers={"HX-Request": "true"})
    # then it carries no trigger (polling stops) and asks htmx to reload the page once
    html = response.content.decode()
    assert "hx-trigger" not in html
    assert response["HX-Refresh"] == "true"


@pytest.mark.parametrize("status", ["completed", "archived"])
def test_finished_detail_does_not_poll(client, partner_a, partner_user_a, status):
    d = in_alpha(partner_a, data.distribution, status=status)
    client.force_login(partner_user_a)
    html = client.get(f"{BASE}{d.pk}/").content.decode()
    assert "hx-trigger" not in html and 'data-testid="metrics"' in html


def test_draft_detail_offers_continue_and_delete(client, partner_a, partner_user_a):
    d = in_alpha(partner_a, data.distribution, name="Half done", status="draft", step=4)
    client.force_login(partner_user_a)
    html = client.get(f"{BASE}{d.pk}/").content.decode()
    assert "Continue editing" in html and f"/p/alpha/distributions/{d.pk}/delete/" in html
    assert 'data-testid="metrics"' not in html and "data-confirm" in html


def test_unknown_distribution_is_404(client, partner_a, partner_user_a):
    client.force_login(partner_user_a)
    assert client.get(f"{BASE}987654/").status_code == 404
    assert client.get(f"{BASE}987654/metrics/").status_code == 404
    assert client.post(f"{BASE}987654/pause/").status_code == 404


# --- Actions -------------------------------------------------------------------------------


def test_pause_then_resume(client, partner_a, partner_user_a):
    d = in_alpha(partner_a, data.distribution, name="Toggle")
    client.force_login(partner_user_a)
    # when paused
    response = client.post(f"{BASE}{d.pk}/pause/", follow=True)
    # then
    assert response.redirect_chain[-1][0] == f"{BASE}{d.pk}/"
    assert (fresh(partner_a, d.pk).status, fresh(partner_a, d.pk).pause_reason) == (
        "paused",
        "user",
    )
    assert any("Paused" in t for t in toasts(response))
    # when resumed
    client.post(f"{BASE}{d.pk}/resume/")
    # then it is live again, and both are in the activity log
    assert fresh(partner_a, d.pk).status == "live"
    kinds = in_alpha(
        partner_a,
        lambda: list(Activity.objects.filter(distribution_id=d.pk).values_list("kind", flat=True)),
    )
    assert sorted(kinds) == ["paused", "resumed"]


def test_resuming_an_archived_distribution_is_refused(client, partner_a, partner_user_a):
    d = in_alpha(partner_a, data.distribution, name="Put away", status="archived")
    client.force_login(partner_user_a)
    # when
    response = client.post(f"{BASE}{d.pk}/resume/", follow=True)
    # then a clear message, and nothing changed
    assert any("Only a paused distribution can be resumed" in t for t in toasts(response))
    assert fresh(partner_a, d.pk).status == "archived"
    assert not in_alpha(partner_a, Activity.objects.filter(distribution_id=d.pk).exists)


def test_pausing_a_completed_distribution_is_refused(client, partner_a, partner_user_a):
    d = in_alpha(partner_a, data.distribution, name="Done already", status="completed")
    client.force_login(partner_user_a)
    response = client.post(f"{BASE}{d.pk}/pause/", follow=True)
    assert any("Only a live distribution can be paused" in t for t in toasts(response))
    assert fresh(partner_a, d.pk).status == "completed"


def test_archive(client, partner_a, partner_user_a):
    d = in_alpha(partner_a, data.distribution, name="To archive")
    client.force_login(partner_user_a)
    client.post(f"{BASE}{d.pk}/archive/")
    assert fresh(partner_a, d.pk).status == "archived"


def test_duplicate_opens_the_new_draft_in_the_wizard(client, partner_a, partner_user_a):
    d = in_alpha(partner_a, data.distribution, name="Original", status="completed")
    client.force_login(partner_user_a)
    # when
    response = client.post(f"{BASE}{d.pk}/duplicate/")
    # then a draft copy exists and the browser goes to its wizard
    copy = in_alpha(partner_a, Distribution.objects.get, name="Copy of Original")
    assert (copy.status, copy.channels, copy.campaign_id) == (
        "draft",
        ["email", "sms"],
        d.campaign_id,
    )
    assert response.status_code == 302
    assert response["Location"].startswith(f"{BASE}{copy.pk}/")
    assert fresh(partner_a, d.pk).status == "completed"


def test_delete_a_draft(client, partner_a, partner_user_a):
    d = in_alpha(partner_a, data.distribution, name="Scrap", status="draft", step=2)
    client.force_login(partner_user_a)
    response = client.post(f"{BASE}{d.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == BASE
    assert not in_alpha(partner_a, Distribution.objects.filter(pk=d.pk).exists)


def test_deleting_a_launched_distribution_is_refused(client, partner_a, partner_user_a):
    d = in_alpha(partner_a, data.distribution, name="Keep me", status="live")
    client.force_login(partner_user_a)
    response = client.post(f"{BASE}{d.pk}/delete/", follow=True)
    assert any("cannot be deleted" in t for t in toasts(response))
    assert fresh(partner_a, d.pk).status == "live"


def test_actions_need_post(client, partner_a, partner_user_a):
    d = in_alpha(partner_a, data.distribution, name="Get me")
    client.force_login(partner_user_a)
    for action in ("pause", "resume", "archive", "duplicate", "delete"):
        assert client.get(f"{BASE}{d.pk}/{action}/").status_code == 405
    assert fresh(partner_a, d.pk).status == "live"


# --- Who may see and do what ---------------------------------------------------------------


def test_another_partners_distribution_is_404(client, partner_a, partner_b, partner_user_b):
    # given a distribution of alpha
    d = in_alpha(partner_a, data.distribution, name="Alpha only")
    client.force_login(partner_user_b)
    # when beta's user asks for it under beta's portal, then 404: the id does not exist there
    assert client.get(f"/p/beta/distributions/{d.pk}/").status_code == 404
    assert client.get(f"/p/beta/distributions/{d.pk}/metrics/").status_code == 404
    assert client.post(f"/p/beta/distributions/{d.pk}/pause/").status_code == 404
    assert client.post(f"/p/beta/distributions/{d.pk}/delete/").status_code == 404
    # and under alpha's portal, then 404 too (not a member)
    assert client.get(f"{BASE}{d.pk}/").status_code == 404
    assert client.post(f"{BASE}{d.pk}/archive/").status_code == 404
    assert client.get(f"{BASE}export.csv").status_code == 404
    # and nothing changed
    assert fresh(partner_a, d.pk).status == "live"


def test_beta_list_does_not_show_alpha(client, partner_a, partner_b, partner_user_b):
    in_alpha(partner_a, data.distribution, name="Alpha secret")
    client.force_login(partner_user_b)
    response = client.get("/p/beta/distributions/")
    assert response.status_code == 200 and "Alpha secret" not in response.content.decode()
    export = b"".join(client.get("/p/beta/distributions/export.csv").streaming_content)
    assert b"Alpha secret" not in export


def test_brand_admin_may_look_but_not_act(client, partner_a, brand_admin):
    d = in_alpha(partner_a, data.distribution, name="Watched")
    client.force_login(brand_admin)
    assert client.get(BASE).status_code == 200
    html = client.get(f"{BASE}{d.pk}/").content.decode()
    assert f"/p/alpha/distributions/{d.pk}/pause/" not in html
    assert client.post(f"{BASE}{d.pk}/pause/").status_code == 403
    assert fresh(partner_a, d.pk).status == "live"


def test_merchant_and_anonymous_are_kept_out(client, partner_a, merchant_a):
    d = in_alpha(partner_a, data.distribution, name="Hidden")
    assert client.get(BASE).status_code == 302  # to the login page
    assert client.post(f"{BASE}{d.pk}/archive/").status_code == 302
    client.force_login(merchant_a)
    assert client.get(BASE).status_code == 403
    assert client.get(f"{BASE}{d.pk}/metrics/").status_code == 403
    assert client.post(f"{BASE}{d.pk}/archive/").status_code == 403
    assert fresh(partner_a, d.pk).status == "live"
