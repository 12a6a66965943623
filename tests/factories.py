"""Factories for test data. Partners are long-lived (their schemas are built once per test
database); people and memberships are created per test.

Public-schema factories (users, memberships, API keys, programs, allocations, job runs) work
anywhere. The partner-schema ones (campaigns, vouchers, merchants, customers, orders, events,
publications, segments, distributions, channel accounts, outbox rows) must run inside a
partner's schema: use the `in_partner` fixture (tests/conftest.py) or `schema_context`."""

from __future__ import annotations

import itertools

import factory
from django.utils import timezone
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


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """A key row with a token nobody knows (the hash of nothing). For a key a test signs in
    with, issue one through apps.accounts.apikeys.api_key_issue instead."""

    class Meta:
        model = "accounts.ApiKey"

    kind = factory.LazyAttribute(lambda k: "merchant" if k.merchant_id else "partner")
    merchant_id = None
    name = "test"
    app_id = factory.Sequence(lambda n: f"test-app-{n}")
    token_prefix = "x"
    token_hash = "0" * 64


class JobRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "core.JobRun"

    kind = "t"
    label = factory.Sequence(lambda n: f"Job {n}")
    schema_name = "public"


# --- Brand (public schema) --------------------------------------------------------------------


class ProgramFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "brand.Program"

    name = factory.Sequence(lambda n: f"Spring sale {n}")
    discount_type = "AMOUNT"
    amount_off = 500
    redemption_limit = 1


class AllocationFactory(factory.django.DjangoModelFactory):
    """An allocation row as a finished (or queued, failed...) job left it; no codes behind it."""

    class Meta:
        model = "brand.Allocation"

    program = factory.SubFactory(ProgramFactory)
    quantity = 1
    status = "queued"


# --- Campaigns, merchants and redemptions (partner schema) -------------------------------------


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


# --- Customers, segments, distributions and messages (partner schema) -------------------------

# Phone numbers differ per customer without a database sequence: E.164, US test range.
_phones = itertools.count(1)


class CustomerFactory(factory.django.DjangoModelFactory):
    """A customer who agreed to email and SMS. Pass `email=None`, `phone=""` or
    `email_consent=False` to make one a message must skip."""

    class Meta:
        model = "customers.Customer"

    name = factory.Sequence(lambda n: f"Customer {n}")
    email = factory.Sequence(lambda n: f"customer{n}@example.test")
    phone = factory.LazyFunction(lambda: f"+1415555{next(_phones) % 10_000:04d}")
    email_consent = True
    sms_consent = True

    class Params:
        # The messaging tests' one recipient: CustomerFactory(ann=True, email=...).
        ann = factory.Trait(name="Ann Lee", email="ann@example.test", phone="+14155550100")


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "customers.Order"

    public_id = factory.Sequence(lambda n: f"ord_test{n}")
    customer = factory.SubFactory(CustomerFactory)
    amount = 1000
    status = "CREATED"


class EventFactory(factory.django.DjangoModelFactory):
    """A customer event row, recorded directly (no consumers are told)."""

    class Meta:
        model = "customers.Event"

    customer = factory.SubFactory(CustomerFactory)
    type = "app.opened"


class PublicationFactory(factory.django.DjangoModelFactory):
    """A code published to a customer, made directly (the pool is not consulted): the voucher
    is marked published and belongs to the publication's campaign."""

    class Meta:
        model = "customers.Publication"

    campaign = factory.SubFactory(CampaignFactory)
    voucher = factory.SubFactory(
        VoucherFactory,
        campaign=factory.SelfAttribute("..campaign"),
        published_at=factory.LazyFunction(timezone.now),
    )
    customer = factory.SubFactory(CustomerFactory)
    public_id = factory.Sequence(lambda n: f"pub_test{n}")
    channel = "API"


class SegmentFactory(factory.django.DjangoModelFactory):
    """A static segment; pass `members=[customer, ...]` to fill it."""

    class Meta:
        model = "customers.Segment"
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Segment {n}")
    kind = "static"

    @factory.post_generation
    def members(obj, create, extracted, **kwargs):  # noqa: N805
        from apps.customers.models import SegmentMembership

        if create and extracted:
            SegmentMembership.objects.bulk_create(
                [SegmentMembership(segment=obj, customer=c) for c in extracted]
            )


class SegmentMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "customers.SegmentMembership"

    segment = factory.SubFactory(SegmentFactory)
    customer = factory.SubFactory(CustomerFactory)


class DistributionFactory(factory.django.DjangoModelFactory):
    """A draft manual distribution at step 0 with nothing chosen: every field a test cares
    about (channels, content, audience, segment, campaign, status) is passed explicitly."""

    class Meta:
        model = "distributions.Distribution"

    name = factory.Sequence(lambda n: f"Distribution {n}")
    kind = "manual"


class RecipientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "distributions.Recipient"

    distribution = factory.SubFactory(DistributionFactory)
    customer = factory.SubFactory(CustomerFactory)


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "distributions.Activity"

    distribution = factory.SubFactory(DistributionFactory)
    kind = "note"
    message = factory.Sequence(lambda n: f"Activity {n}")


class ChannelAccountFactory(factory.django.DjangoModelFactory):
    """A channel's account; secrets are stored encrypted as the app stores them. Pass
    `secrets={...}` for the plain values."""

    class Meta:
        model = "messaging.ChannelAccount"
        exclude = ("secrets",)

    channel = "email"
    config = factory.LazyFunction(dict)
    secrets = None
    secrets_encrypted = factory.LazyAttribute(lambda a: _encrypted(a.secrets))


def _encrypted(secrets: dict | None) -> str:
    from apps.messaging.crypto import encrypt_secrets

    return encrypt_secrets(secrets) if secrets else ""


class OutboxMessageFactory(factory.django.DjangoModelFactory):
    """An outbox row written directly (no consent or address checks, no send job): for tests
    of what reads the outbox. To test queueing, call apps.messaging.services.outbox_queue."""

    class Meta:
        model = "messaging.OutboxMessage"

    channel = "email"
    customer = factory.SubFactory(CustomerFactory)
    recipient = factory.LazyAttribute(
        lambda m: (
            (m.customer.email if m.channel == "email" else m.customer.phone) if m.customer else ""
        )
    )
    status = "pending"


class RedemptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "redemptions.Redemption"

    voucher = factory.SubFactory(VoucherFactory)
    campaign = factory.SelfAttribute("voucher.campaign")
    channel = "web"
