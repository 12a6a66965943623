"""Publishing codes to customers: one code each, retries, join_once, events, rollups, pool
status, and the set-based bulk publication."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from apps import rollups
from apps.brand.models import PartnerProgramStats
from apps.campaigns.models import Voucher
from apps.campaigns.selectors import PoolStatus, pool_status, publishable_campaigns
from apps.core.errors import DomainError
from apps.customers.models import Customer, Event, Publication
from apps.customers.publications import (
    NO_VOUCHER,
    voucher_publish,
    vouchers_publish_bulk,
)
from tests.factories import CampaignFactory, VoucherFactory


def _pool(size: int, **campaign_kwargs):
    campaign = CampaignFactory(**campaign_kwargs)
    for n in range(size):
        VoucherFactory(campaign=campaign, code=f"{campaign.pk}-POOL-{n:04d}")
    return campaign


def test_publish_gives_a_free_code_and_records_event(in_partner):
    # given
    campaign = _pool(2)
    customer = Customer.objects.create(source_id="c-1")
    # when
    publication = voucher_publish(campaign=campaign, customer=customer, channel="API")
    # then
    voucher = Voucher.objects.get(pk=publication.voucher_id)
    assert publication.public_id.startswith("pub_")
    assert voucher.published_at is not None
    event = Event.objects.get(customer=customer, type="voucher.published")
    assert event.payload["code"] == voucher.code
    assert event.payload["campaign"] == campaign.name


def test_two_customers_get_two_different_codes(in_partner):
    # given
    campaign = _pool(2)
    ann = Customer.objects.create(source_id="ann")
    bob = Customer.objects.create(source_id="bob")
    # when
    first = voucher_publish(campaign=campaign, customer=ann, channel="API")
    second = voucher_publish(campaign=campaign, customer=bob, channel="API")
    # then
    assert first.voucher_id != second.voucher_id


def test_source_id_retry_returns_the_same_code(in_partner):
    # given
    campaign = _pool(3)
    customer = Customer.objects.create(source_id="c-1")
    first = voucher_publish(campaign=campaign, customer=customer, channel="API", source_id="pub-1")
    # when
    again = voucher_publish(campaign=campaign, customer=customer, channel="API", source_id="pub-1")
    # then
    assert again.pk == first.pk
    assert again.voucher.code == first.voucher.code
    assert Publication.objects.count() == 1
    assert Event.objects.filter(type="voucher.published").count() == 1


def test_source_id_reused_for_another_customer_is_refused(in_partner):
    # given
    campaign = _pool(3)
    ann = Customer.objects.create(source_id="ann")
    bob = Customer.objects.create(source_id="bob")
    voucher_publish(campaign=campaign, customer=ann, channel="API", source_id="pub-1")
    # when
    with pytest.raises(DomainError) as caught:
        voucher_publish(campaign=campaign, customer=bob, channel="API", source_id="pub-1")
    # then
    assert caught.value.key == "duplicate_source_id"
    assert Publication.objects.count() == 1


def test_join_once_returns_the_code_the_customer_already_has(in_partner):
    # given
    campaign = _pool(3)
    customer = Customer.objects.create(source_id="c-1")
    first = voucher_publish(campaign=campaign, customer=customer, channel="API")
    # when
    again = voucher_publish(campaign=campaign, customer=customer, channel="API", join_once=True)
    without = voucher_publish(campaign=campaign, customer=customer, channel="API")
    # then
    assert again.pk == first.pk
    assert without.pk != first.pk
    assert Publication.objects.filter(customer=customer).count() == 2


def test_one_code_per_customer_and_distribution(in_partner):
    # given
    campaign = _pool(3)
    customer = Customer.objects.create(source_id="c-1")
    first = voucher_publish(
        campaign=campaign, customer=customer, channel="distribution", distribution_id=7
    )
    # when
    again = voucher_publish(
        campaign=campaign, customer=customer, channel="distribution", distribution_id=7
    )
    # then
    assert again.pk == first.pk


def test_empty_pool_is_a_clear_error_and_changes_nothing(in_partner):
    # given
    campaign = _pool(1)
    ann = Customer.objects.create(source_id="ann")
    bob = Customer.objects.create(source_id="bob")
    voucher_publish(campaign=campaign, customer=ann, channel="API")
    # when
    with pytest.raises(DomainError) as caught:
        voucher_publish(campaign=campaign, customer=bob, channel="API")
    # then
    assert caught.value.key == NO_VOUCHER
    assert campaign.name in caught.value.message
    assert not Publication.objects.filter(customer=bob).exists()
    assert not Event.objects.filter(customer=bob).exists()


def test_disabled_codes_and_inactive_or_expired_campaigns_are_not_published(in_partner):
    # given
    disabled = _pool(0)
    VoucherFactory(campaign=disabled, code="OFF-1", active=False)
    inactive = _pool(1, active=False)
    expired = _pool(1, expiration_date=timezone.now() - dt.timedelta(days=1))
    customer = Customer.objects.create(source_id="c-1")
    # when / then
    for campaign in (disabled, inactive, expired):
        with pytest.raises(DomainError) as caught:
            voucher_publish(campaign=campaign, customer=customer, channel="API")
        assert caught.value.key == NO_VOUCHER
    assert not Publication.objects.exists()


def test_publication_counts_in_the_brand_rollup(partner_a):
    with schema_context(partner_a.schema_name):
        # given
        campaign = _pool(3)
        customer = Customer.objects.create(source_id="c-1")
        # when
        voucher_publish(campaign=campaign, customer=customer, channel="API")
        voucher_publish(campaign=campaign, customer=customer, channel="API")
    rollups.flush()
    # then
    stats = PartnerProgramStats.objects.get(partner=partner_a, program_id=campaign.program_id)
    assert stats.published == 2


def test_bulk_publish_pairs_codes_with_customers_in_one_statement(partner_a):
    with schema_context(partner_a.schema_name):
        # given
        campaign = _pool(3)
        customers = [Customer.objects.create(source_id=f"c-{n}") for n in range(5)]
        ids = [c.pk for c in customers]
        # when
        with CaptureQueriesContext(connection) as queries:
            result = vouchers_publish_bulk(
                campaign=campaign, customer_ids=ids, channel="distribution", distribution_id=9
            )
        # then
        assert result.created == 3
        assert result.unserved == ids[3:]
        publications = Publication.objects.filter(distribution_id=9)
        assert sorted(p.customer_id for p in publications) == ids[:3]
        assert len({p.voucher_id for p in publications}) == 3
        assert all(p.public_id.startswith("pub_") for p in publications)
        assert Voucher.objects.filter(campaign=campaign, published_at__isnull=True).count() == 0
        events = Event.objects.filter(type="voucher.published")
        assert sorted(e.customer_id for e in events) == ids[:3]
        assert {e.payload["distribution_id"] for e in events} == {9}
        statements = [q["sql"] for q in queries if "INSERT INTO" in q["sql"]]
        assert len(statements) == 2  # the publication statement and the rollup delta
    rollups.flush()
    stats = PartnerProgramStats.objects.get(partner=partner_a, program_id=campaign.program_id)
    assert stats.published == 3


def test_bulk_publish_skips_customers_already_served_by_the_distribution(in_partner):
    # given
    campaign = _pool(5)
    customers = [Customer.objects.create(source_id=f"c-{n}") for n in range(3)]
    ids = [c.pk for c in customers]
    vouchers_publish_bulk(
        campaign=campaign, customer_ids=ids[:2], channel="distribution", distribution_id=9
    )
    # when
    result = vouchers_publish_bulk(
        campaign=campaign, customer_ids=ids, channel="distribution", distribution_id=9
    )
    # then
    assert (result.created, result.unserved) == (1, [])
    assert Publication.objects.filter(distribution_id=9).count() == 3


def test_bulk_publish_with_nobody_does_nothing(in_partner):
    # given
    campaign = _pool(1)
    # when
    result = vouchers_publish_bulk(campaign=campaign, customer_ids=[], channel="x")
    # then
    assert (result.created, result.unserved) == (0, [])


def test_pool_status_flags_a_low_pool(partner_a):
    with schema_context(partner_a.schema_name):
        # given
        campaign = _pool(3)
        customer = Customer.objects.create(source_id="c-1")
        voucher_publish(campaign=campaign, customer=customer, channel="API")
        # when
        status = pool_status(campaign)
        # then
        assert (status.total, status.left, status.low, status.empty) == (3, 2, True, False)
    assert PoolStatus(total=10_000, left=2_000).low is False
    assert PoolStatus(total=10_000, left=999).low is True
    assert PoolStatus(total=500, left=99).low is True
    assert PoolStatus(total=0, left=0).empty is True


def test_publishable_campaigns_lists_only_campaigns_with_codes_left(in_partner):
    # given
    open_one = _pool(1)
    drained = _pool(1)
    _pool(1, active=False)
    voucher_publish(
        campaign=drained, customer=Customer.objects.create(source_id="c"), channel="API"
    )
    # when
    names = list(publishable_campaigns().values_list("name", flat=True))
    # then
    assert names == [open_one.name]


# --- The "Publish a code" form on the customer page -------------------------------------


def _publish_url(customer) -> str:
    return f"/p/alpha/customers/{customer.pk}/publish/"


def test_portal_publish_gives_a_code_and_returns_to_the_customer(client, partner_user_a):
    # given
    with schema_context("p_alpha"):
        campaign = _pool(2)
        customer = Customer.objects.create(source_id="c-1", name="Ann")
    client.force_login(partner_user_a)
    # when
    response = client.post(_publish_url(customer), {"campaign": campaign.pk})
    # then
    assert response.status_code == 302
    assert response["Location"].endswith(f"/customers/{customer.pk}/#published-codes")
    with schema_context("p_alpha"):
        publication = Publication.objects.select_related("voucher").get(customer=customer)
        assert publication.channel == "portal"
    page = client.get(response["Location"]).content.decode()
    assert publication.voucher.code in page
    assert 'data-testid="publish-code"' in page  # the form stays on the customer page


def test_portal_publish_with_join_once_keeps_the_existing_code(client, partner_user_a):
    # given
    with schema_context("p_alpha"):
        campaign = _pool(2)
        customer = Customer.objects.create(source_id="c-1")
        first = voucher_publish(campaign=campaign, customer=customer, channel="API")
    client.force_login(partner_user_a)
    # when
    response = client.post(_publish_url(customer), {"campaign": campaign.pk, "join_once": "on"})
    # then
    assert response.status_code == 302
    with schema_context("p_alpha"):
        assert list(Publication.objects.filter(customer=customer)) == [first]


def test_portal_publish_htmx_shows_errors_in_the_form(client, partner_user_a):
    # given a campaign whose last code is gone
    with schema_context("p_alpha"):
        drained = _pool(1)
        _pool(1)  # another campaign keeps the form on the page
        customer = Customer.objects.create(source_id="c-1")
        voucher_publish(
            campaign=drained, customer=Customer.objects.create(source_id="c-2"), channel="API"
        )
    client.force_login(partner_user_a)
    # when
    response = client.post(_publish_url(customer), {"campaign": drained.pk}, HTTP_HX_REQUEST="true")
    empty = client.post(_publish_url(customer), {}, HTTP_HX_REQUEST="true")
    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="publish-code"' in html
    assert "no codes left" in html
    assert "Choose the campaign" in empty.content.decode()
    with schema_context("p_alpha"):
        assert not Publication.objects.filter(customer=customer).exists()


def test_portal_publish_with_htmx_refreshes_the_page(client, partner_user_a):
    # given
    with schema_context("p_alpha"):
        campaign = _pool(1)
        customer = Customer.objects.create(source_id="c-1")
    client.force_login(partner_user_a)
    # when
    response = client.post(
        _publish_url(customer), {"campaign": campaign.pk}, HTTP_HX_REQUEST="true"
    )
    # then
    assert response.status_code == 200
    assert response["HX-Refresh"] == "true"


def test_portal_publish_is_refused_to_merchants_and_other_partners(
    client, merchant_a, partner_user_b
):
    # given
    with schema_context("p_alpha"):
        campaign = _pool(1)
        customer = Customer.objects.create(source_id="c-1")
    # when / then
    client.force_login(merchant_a)
    assert client.post(_publish_url(customer), {"campaign": campaign.pk}).status_code == 403
    client.force_login(partner_user_b)
    assert client.post(_publish_url(customer), {"campaign": campaign.pk}).status_code == 404
    with schema_context("p_alpha"):
        assert not Publication.objects.exists()


def test_publish_form_tag_renders_for_managers_only(rf, partner_user_a):
    from django.template import Context, Template
    from django.urls import set_urlconf

    from apps.tenancy.urlconf import partner_urlconf

    # given a page of partner alpha (its URLs, as the routing middleware sets them)
    set_urlconf(partner_urlconf("alpha"))
    try:
        with schema_context("p_alpha"):
            _pool(1)
            customer = Customer.objects.create(source_id="c-1")
            tpl = Template("{% load publish_tags %}{% publish_form customer %}")
            manager = rf.get("/")
            manager.capabilities = frozenset({"audience.manage"})
            viewer = rf.get("/")
            viewer.capabilities = frozenset({"audience.view"})
            # when
            shown = tpl.render(Context({"request": manager, "customer": customer}))
            hidden = tpl.render(Context({"request": viewer, "customer": customer}))
    finally:
        set_urlconf(None)
    # then
    assert "Publish a code" in shown
    assert "Publish a code" not in hidden
