"""Allocating code pools: the form's refusals, the generation job in the partner schema
(campaign, unique codes, rollup, permissions), top-ups, re-runs and isolation."""

from __future__ import annotations

import pytest
from django.db import connection
from django_tenants.utils import schema_context
from guardian.shortcuts import get_perms

from apps.accounts.models import Membership
from apps.brand.jobs import allocation_generate
from apps.brand.models import Allocation, PartnerProgramStats
from apps.brand.services import allocation_create
from apps.campaigns.models import Campaign, Voucher
from apps.core.errors import DomainError
from apps.core.models import JobRun
from tests.factories import MembershipFactory, ProgramFactory, VoucherFactory


def allocate(client, program, partner, quantity, capture):
    with capture(execute=True):
        return client.post(
            "/brand/allocations/new/",
            {"program": program.pk, "partner": partner.pk, "quantity": quantity},
        )


def codes_in(schema: str, campaign_id: int | None = None) -> list[str]:
    with schema_context(schema):
        vouchers = Voucher.objects.all()
        if campaign_id is not None:
            vouchers = vouchers.filter(campaign_id=campaign_id)
        return list(vouchers.values_list("code", flat=True))


@pytest.mark.parametrize(
    "quantity, problem",
    [
        ("0", "Allocate at least 1 code."),
        ("-5", "Allocate at least 1 code."),
        ("", "Enter how many codes to allocate."),
        ("lots", "Enter a whole number of codes"),
        ("10000001", "At most 10,000,000 codes can be allocated at once"),
    ],
)
def test_bad_quantity_is_a_form_error(client, brand_admin, partner_a, quantity, problem):
    # given
    program = ProgramFactory()
    client.force_login(brand_admin)
    # when
    response = client.post(
        "/brand/allocations/new/",
        {"program": program.pk, "partner": partner_a.pk, "quantity": quantity},
    )
    # then
    assert response.status_code == 400
    assert problem in response.content.decode()
    assert not Allocation.objects.exists()


def test_more_codes_than_the_format_allows_is_refused_with_the_reason(
    client, brand_admin, partner_a
):
    # given 8 digits ^ 4 positions = 4,096 codes, of which half may be used
    program = ProgramFactory(code_charset="digits", code_length=4)
    client.force_login(brand_admin)
    # when
    response = client.post(
        "/brand/allocations/new/",
        {"program": program.pk, "partner": partner_a.pk, "quantity": 3000},
    )
    # then
    page = response.content.decode()
    assert response.status_code == 400
    assert "at most 4,096 distinct codes" in page
    assert "Use a longer code or a larger character set." in page
    assert not Allocation.objects.exists()


def test_a_top_up_must_fit_next_to_what_the_partner_already_has(brand_admin, partner_a):
    # given 2,000 of the 2,048 usable codes already allocated
    program = ProgramFactory(code_charset="digits", code_length=4)
    Allocation.objects.create(
        program=program, partner=partner_a, quantity=2000, status=Allocation.Status.SUCCEEDED
    )
    # when / then
    with pytest.raises(DomainError, match=r"plus 2,000 already allocated") as caught:
        allocation_create(actor=brand_admin, program=program, partner=partner_a, quantity=100)
    assert caught.value.key == "format_too_small"
    assert Allocation.objects.count() == 1


def test_partner_that_is_not_ready_cannot_be_chosen(client, brand_admin, partner_a):
    # given
    program = ProgramFactory()
    partner_a.status = "creating"
    partner_a.save(update_fields=["status"])
    client.force_login(brand_admin)
    # when
    response = client.post(
        "/brand/allocations/new/",
        {"program": program.pk, "partner": partner_a.pk, "quantity": 10},
    )
    # then
    assert response.status_code == 400
    assert "Choose one of the ready partners in the list." in response.content.decode()
    # and the service refuses too, for callers that skip the form
    with pytest.raises(DomainError, match="not ready yet"):
        allocation_create(actor=brand_admin, program=program, partner=partner_a, quantity=10)


def test_allocation_creates_campaign_codes_rollup_and_permissions(
    client,
    brand_admin,
    partner_a,
    partner_b,
    partner_user_a,
    merchant_a,
    run_jobs,
    django_capture_on_commit_callbacks,
):
    # given
    program = ProgramFactory(name="Spring", code_pattern="SPR-####-####", redemption_limit=3)
    client.force_login(brand_admin)
    beta_before = codes_in(partner_b.schema_name)
    # when
    response = allocate(client, program, partner_a, 250, django_capture_on_commit_callbacks)
    # then the allocation is queued with a brand-visible job run
    allocation = Allocation.objects.get()
    assert response.status_code == 302
    assert response.url == f"/brand/allocations/{allocation.pk}/"
    assert allocation.status == Allocation.Status.QUEUED
    assert allocation.job_run.schema_name == "public"
    assert allocation.created_by == brand_admin
    # when a worker runs the job
    run_jobs()
    # then
    allocation.refresh_from_db()
    assert (allocation.status, allocation.codes_created) == (Allocation.Status.SUCCEEDED, 250)
    job = JobRun.objects.get(pk=allocation.job_run_id)
    assert (job.status, job.progress) == (JobRun.Status.SUCCEEDED, 100)
    with schema_context(partner_a.schema_name):
        campaign = Campaign.objects.get(program_id=program.pk)
        assert (campaign.name, campaign.code_pattern) == ("Spring", "SPR-####-####")
        assert campaign.vouchers_count == 250
        codes = codes_in(partner_a.schema_name, campaign.pk)
        assert len(codes) == len(set(codes)) == 250
        assert all(c.startswith("SPR-") and len(c) == 13 for c in codes)
        assert set(Voucher.objects.values_list("redemption_limit", flat=True)) == {3}
        assert "distribute_campaign" in get_perms(partner_user_a, campaign)
        assert "change_campaign" not in get_perms(partner_user_a, campaign)
        assert get_perms(merchant_a, campaign) == []
    stats = PartnerProgramStats.objects.get(partner=partner_a, program=program)
    assert stats.allocated == 250
    # and partner beta's schema is untouched
    assert codes_in(partner_b.schema_name) == beta_before
    with schema_context(partner_b.schema_name):
        assert not Campaign.objects.filter(program_id=program.pk).exists()
    # and the pages show it
    page = client.get(f"/brand/allocations/{allocation.pk}/").content.decode()
    assert 'aria-valuenow="100"' in page and "250 codes of Spring are ready" in page


def test_top_up_appends_to_the_same_campaign(
    client, brand_admin, partner_a, run_jobs, django_capture_on_commit_callbacks
):
    # given a first allocation, done
    program = ProgramFactory()
    client.force_login(brand_admin)
    allocate(client, program, partner_a, 100, django_capture_on_commit_callbacks)
    run_jobs()
    # when the brand tops up
    allocate(client, program, partner_a, 40, django_capture_on_commit_callbacks)
    run_jobs()
    # then
    assert list(Allocation.objects.values_list("status", "codes_created")) == [
        ("succeeded", 40),
        ("succeeded", 100),
    ]
    assert JobRun.objects.get(pk=Allocation.objects.first().job_run_id).label.startswith("Top up")
    with schema_context(partner_a.schema_name):
        campaign = Campaign.objects.get(program_id=program.pk)
        assert Campaign.objects.filter(program_id=program.pk).count() == 1
        assert campaign.vouchers_count == 140
        codes = codes_in(partner_a.schema_name, campaign.pk)
        assert len(set(codes)) == 140
    assert PartnerProgramStats.objects.get(partner=partner_a, program=program).allocated == 140


def test_running_the_job_twice_changes_nothing(
    client, brand_admin, partner_a, run_jobs, django_capture_on_commit_callbacks
):
    # given a finished allocation
    program = ProgramFactory()
    client.force_login(brand_admin)
    allocate(client, program, partner_a, 60, django_capture_on_commit_callbacks)
    run_jobs()
    allocation = Allocation.objects.get()
    # when the same job runs again (a retried or duplicated queue entry)
    with schema_context(partner_a.schema_name):
        allocation_generate(allocation.pk, job_run_id=str(allocation.job_run_id))
    # then
    assert len(codes_in(partner_a.schema_name)) == 60
    assert PartnerProgramStats.objects.get(partner=partner_a, program=program).allocated == 60


def test_a_resumed_run_makes_only_the_missing_codes(brand_admin, partner_a):
    # given an allocation whose worker died after making 30 of its 50 codes
    program = ProgramFactory()
    allocation = allocation_create(
        actor=brand_admin, program=program, partner=partner_a, quantity=50
    )
    with schema_context(partner_a.schema_name):
        campaign = Campaign.objects.create(program_id=program.pk, **program.terms())
        for i in range(30):
            VoucherFactory(campaign=campaign, code=f"OLD{i:04d}")
        Campaign.objects.filter(pk=campaign.pk).update(vouchers_count=30)
    Allocation.objects.filter(pk=allocation.pk).update(status="running", codes_created=30)
    # when the job runs again
    with schema_context(partner_a.schema_name):
        allocation_generate(allocation.pk)
        campaign.refresh_from_db()
    # then
    allocation.refresh_from_db()
    assert (allocation.status, allocation.codes_created) == ("succeeded", 50)
    assert campaign.vouchers_count == 50
    assert len(codes_in(partner_a.schema_name, campaign.pk)) == 50


def test_codes_already_in_the_schema_are_never_duplicated(brand_admin, partner_a):
    # given a tiny format (32 usable codes) whose space is already half taken by another
    # campaign of the same partner
    other = ProgramFactory(code_charset="custom", code_custom_charset="AB", code_length=6)
    program = ProgramFactory(code_charset="custom", code_custom_charset="AB", code_length=6)
    with schema_context(partner_a.schema_name):
        taken = Campaign.objects.create(program_id=other.pk, **other.terms())
        for i in range(16):
            VoucherFactory(campaign=taken, code=f"{i:06b}".replace("0", "A").replace("1", "B"))
    allocation = allocation_create(
        actor=brand_admin, program=program, partner=partner_a, quantity=32
    )
    # when
    with schema_context(partner_a.schema_name):
        allocation_generate(allocation.pk)
    # then all 32 new codes are distinct from the 16 that were there
    codes = codes_in(partner_a.schema_name)
    assert len(codes) == len(set(codes)) == 48


def test_failed_generation_is_reported_on_the_allocation_and_the_job(
    brand_admin, partner_a, run_jobs, django_capture_on_commit_callbacks
):
    # given a format whose whole space is already used by another campaign in the schema
    other = ProgramFactory(code_charset="custom", code_custom_charset="AB", code_length=4)
    program = ProgramFactory(code_charset="custom", code_custom_charset="AB", code_length=4)
    with schema_context(partner_a.schema_name):
        taken = Campaign.objects.create(program_id=other.pk, **other.terms())
        for i in range(16):
            VoucherFactory(campaign=taken, code=f"{i:04b}".replace("0", "A").replace("1", "B"))
    with django_capture_on_commit_callbacks(execute=True):
        allocation = allocation_create(
            actor=brand_admin, program=program, partner=partner_a, quantity=8
        )
    # when
    run_jobs()
    # then
    allocation.refresh_from_db()
    job = JobRun.objects.get(pk=allocation.job_run_id)
    assert allocation.status == Allocation.Status.FAILED
    assert "already exists in this partner's project" in allocation.error
    assert job.status == JobRun.Status.FAILED
    assert "already exists in this partner's project" in job.message


def test_distribute_permission_goes_to_every_partner_user_and_no_merchant(brand_admin, partner_a):
    # given three partner users and a merchant
    users = [MembershipFactory(partner=partner_a).user for _ in range(3)]
    merchant = MembershipFactory(partner=partner_a, role=Membership.Role.MERCHANT).user
    program = ProgramFactory()
    allocation = allocation_create(
        actor=brand_admin, program=program, partner=partner_a, quantity=5
    )
    # when
    with schema_context(partner_a.schema_name):
        allocation_generate(allocation.pk)
        campaign = Campaign.objects.get(program_id=program.pk)
        # then
        assert all(get_perms(u, campaign) == ["distribute_campaign"] for u in users)
        assert get_perms(merchant, campaign) == []
    assert connection.schema_name == "public"


def test_program_page_lists_allocations_per_partner(client, brand_admin, partner_a, partner_b):
    # given
    program = ProgramFactory(name="Autumn")
    Allocation.objects.create(
        program=program, partner=partner_a, quantity=1000, status="succeeded", codes_created=1000
    )
    Allocation.objects.create(
        program=program, partner=partner_a, quantity=500, status="running", codes_created=100
    )
    Allocation.objects.create(
        program=program,
        partner=partner_b,
        quantity=70,
        status="failed",
        codes_created=0,
        error="Boom",
    )
    client.force_login(brand_admin)
    # when
    page = client.get(f"/brand/programs/{program.pk}/").content.decode()
    # then
    assert "Alpha Retail" in page and "Beta Travel" in page
    assert "1,500" in page and "1,100" in page
    assert "Generating" in page and "1 failed" in page
    # and the history lists all three
    history = client.get("/brand/allocations/").content.decode()
    assert history.count("/brand/allocations/") >= 3 and "Boom" in history


def test_allocation_history_is_paginated_and_searchable(client, brand_admin, partner_a):
    # given
    spring, autumn = ProgramFactory(name="Spring"), ProgramFactory(name="Autumn")
    for _ in range(26):
        Allocation.objects.create(program=spring, partner=partner_a, quantity=1)
    Allocation.objects.create(program=autumn, partner=partner_a, quantity=1)
    client.force_login(brand_admin)
    # when / then
    assert "Page 1 of 2" in client.get("/brand/allocations/").content.decode()
    found = client.get("/brand/allocations/?q=autumn").content.decode()
    assert "Autumn" in found and ">Spring<" not in found
    none = client.get("/brand/allocations/?q=zzz").content.decode()
    assert "No match" in none


def test_allocation_history_empty_state(client, brand_admin):
    client.force_login(brand_admin)
    assert "No allocations yet" in client.get("/brand/allocations/").content.decode()
