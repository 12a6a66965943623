"""Writes for users and memberships, and where each person lands after signing in."""

from __future__ import annotations

from django.db import transaction

from apps.accounts.models import Membership, User
from apps.tenancy.models import Partner
from apps.tenancy.urlconf import partner_reverse


def landing_url_for(membership: Membership) -> str:
    name = "redemptions:redeem" if membership.role == Membership.Role.MERCHANT else "portal:home"
    return partner_reverse(membership.partner.slug, name)


@transaction.atomic
def membership_grant(
    *, email: str, partner: Partner, role: str, full_name: str = "", password: str | None = None
) -> Membership:
    """Give `email` the `role` in `partner`, creating the user if needed."""
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=password, full_name=full_name)
    membership, _ = Membership.objects.update_or_create(
        user=user, partner=partner, defaults={"role": role}
    )
    return membership
