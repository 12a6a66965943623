"""Factories for test data. Partners are long-lived (their schemas are built once per test
database); people and memberships are created per test."""

from __future__ import annotations

import factory
from django_tenants.utils import schema_exists

from apps.accounts.models import Membership, User
from apps.tenancy.models import Domain, Partner, schema_name_for

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    role = Membership.Role.PARTNER_USER


def ensure_partner(slug: str, name: str | None = None) -> Partner:
    """The partner row and its schema, created if missing. A transactional test's flush
    empties public tables but leaves schemas, so the row may need re-creating."""
    partner = Partner.objects.filter(slug=slug).first()
    if partner is None:
        partner = Partner.objects.create(
            name=name or slug.title(),
            slug=slug,
            schema_name=schema_name_for(slug),
            status=Partner.Status.READY,
        )
        Domain.objects.get_or_create(domain=slug, defaults={"tenant": partner})
    if not schema_exists(partner.schema_name):
        partner.create_schema(check_if_exists=True, verbosity=0)
    return partner


# --- Campaigns, merchants and redemptions (partner schema: use inside schema_context) -------


class ProgramFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "brand.Program"

    name = factory.Sequence(lambda n: f"Spring sale {n}")
    discount_type = "AMOUNT"
    amount_off = 500
    redemption_limit = 1


class CampaignFactory(factory.django.DjangoModelFactory):
    """A partner campaign; `program_id` points at a real Program so rollups have a target."""

    class Meta:
        model = "campaigns.Campaign"

    name = factory.Sequence(lambda n: f"Campaign {n}")
    discount_type = "AMOUNT"
    amount_off = 500
    redemption_limit = 1
    program_id = factory.LazyFunction(lambda: ProgramFactory().pk)


class VoucherFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "campaigns.Voucher"

    campaign = factory.SubFactory(CampaignFactory)
    code = factory.Sequence(lambda n: f"TEST{n:06d}")
    redemption_limit = factory.LazyAttribute(lambda v: v.campaign.redemption_limit)


class MerchantFactory(factory.django.DjangoModelFactory):
    """A merchant; pass `allowed=[campaign, ...]` to grant redeem_campaign on them. `user`
    must be a user with a merchant membership in the same partner."""

    class Meta:
        model = "redemptions.Merchant"
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Shop {n}")
    location = "High Street 1"

    @factory.post_generation
    def allowed(obj, create, extracted, **kwargs):  # noqa: N805
        from guardian.shortcuts import assign_perm

        for campaign in extracted or []:
            assign_perm("campaigns.redeem_campaign", obj.user, campaign)
