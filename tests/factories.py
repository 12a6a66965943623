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
