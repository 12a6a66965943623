"""Writes for the partner's merchants: create and edit a merchant, choose the campaigns it may
redeem (guardian `redeem_campaign` on the merchant's login), and issue its API keys.

A merchant's login is a public User with a `merchant` Membership in the partner. A new login
gets an unusable password and an email to choose one, sent through Django's password-reset
token machinery once the transaction has committed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.tokens import default_token_generator
from django.db import IntegrityError, transaction
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from guardian.shortcuts import assign_perm, remove_perm

from apps.accounts.actors import Actor
from apps.accounts.apikeys import IssuedKey, api_key_issue
from apps.accounts.models import Membership, User
from apps.accounts.services import membership_grant
from apps.campaigns.models import Campaign
from apps.core.errors import DomainError
from apps.redemptions.merchants.selectors import REDEEM_PERM, merchant_campaigns
from apps.redemptions.models import Merchant
from apps.tenancy.models import Partner

PERM = f"campaigns.{REDEEM_PERM}"


class MerchantError(DomainError):
    """A refused merchant change; `field` names the form field the sentence belongs to."""

    def __init__(self, message: str, *, key: str, field: str | None = None) -> None:
        super().__init__(message, key=key)
        self.field = field


@dataclass(frozen=True)
class SiteInfo:
    """Where links in emails point (the request's host, as Django's password reset does)."""

    domain: str
    use_https: bool = False
    name: str = ""


def _name_taken(name: str, *, exclude_pk: int | None = None) -> Merchant | None:
    others = Merchant.objects.filter(name__iexact=name)
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    return others.first()


def _check_name(name: str, *, exclude_pk: int | None = None) -> None:
    if _name_taken(name, exclude_pk=exclude_pk) is not None:
        raise MerchantError(
            f"A merchant named “{name}” already exists; choose another name, e.g. add the town.",
            key="duplicate_name",
            field="name",
        )


def _check_login(email: str, *, partner: Partner) -> User | None:
    """The existing user for `email` if it may become this partner's merchant login; refuses
    addresses that already mean something else here."""
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        return None
    if user.is_brand_admin:
        raise MerchantError(
            f"{email} belongs to a brand administrator; use a separate address for the "
            "merchant's login.",
            key="email_is_brand_admin",
            field="email",
        )
    membership = Membership.objects.filter(user=user, partner=partner).first()
    if membership is not None and membership.role == Membership.Role.PARTNER_USER:
        raise MerchantError(
            f"{email} is a partner user of {partner.name}; a merchant needs its own login, so "
            "use another address.",
            key="email_is_partner_user",
            field="email",
        )
    owner = Merchant.objects.filter(user=user).first()
    if owner is not None:
        raise MerchantError(
            f"{email} is already the login of the merchant “{owner.name}”; use another address.",
            key="email_in_use",
            field="email",
        )
    return user


def send_password_set_email(*, user: User, partner: Partner, site: SiteInfo) -> None:
    """Invite `user` to choose a password, with a one-time link from Django's reset token."""
    context = {
        "email": user.email,
        "domain": site.domain,
        "site_name": site.name or "Coupons",
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "user": user,
        "token": default_token_generator.make_token(user),
        "protocol": "https" if site.use_https else "http",
        "partner": partner,
    }
    PasswordResetForm().send_mail(
        "merchants/email/password_set_subject.txt",
        "merchants/email/password_set.txt",
        context,
        settings.DEFAULT_FROM_EMAIL,
        user.email,
    )


def merchant_campaigns_set(*, merchant: Merchant, campaigns: Iterable[Campaign]) -> None:
    """Make the merchant's `redeem_campaign` grants exactly `campaigns`: one bulk insert for
    the new ones, one bulk delete for the dropped ones."""
    if merchant.user is None:
        raise MerchantError(
            "This merchant has no login, so it cannot be allowed to redeem any campaign.",
            key="merchant_without_login",
            field="campaigns",
        )
    wanted = {c.pk for c in campaigns}
    current = set(merchant_campaigns(merchant=merchant).values_list("pk", flat=True))
    # guardian's bulk forms take a queryset (its type hints only mention a single object).
    if wanted - current:
        assign_perm(PERM, merchant.user, Campaign.objects.filter(pk__in=wanted - current))  # type: ignore[arg-type]
    if current - wanted:
        remove_perm(PERM, merchant.user, Campaign.objects.filter(pk__in=current - wanted))


@transaction.atomic
def merchant_create(
    *,
    partner: Partner,
    name: str,
    email: str,
    location: str = "",
    campaigns: Iterable[Campaign] = (),
    site: SiteInfo,
    actor: Actor = None,
) -> Merchant:
    """A merchant with its login (created or reused) and its allowed campaigns."""
    name = " ".join(name.split())
    email = email.strip().lower()
    _check_name(name)
    user = _check_login(email, partner=partner)
    is_new_login = user is None or not user.has_usable_password()
    membership = membership_grant(email=email, partner=partner, role=Membership.Role.MERCHANT)
    try:
        with transaction.atomic():
            merchant = Merchant.objects.create(name=name, location=location, user=membership.user)
    except IntegrityError:
        # Someone created the same name between the check and the insert.
        _check_name(name)
        raise
    merchant_campaigns_set(merchant=merchant, campaigns=campaigns)
    if is_new_login:
        login = membership.user
        transaction.on_commit(
            lambda: send_password_set_email(user=login, partner=partner, site=site)
        )
    return merchant


@transaction.atomic
def merchant_update(
    *,
    merchant: Merchant,
    name: str,
    location: str = "",
    is_active: bool = True,
    campaigns: Iterable[Campaign] | None = None,
) -> Merchant:
    """Rename, move, switch on or off, and (when `campaigns` is given) set what it may redeem."""
    name = " ".join(name.split())
    _check_name(name, exclude_pk=merchant.pk)
    merchant.name, merchant.location, merchant.is_active = name, location, is_active
    try:
        with transaction.atomic():
            merchant.save(update_fields=["name", "location", "is_active"])
    except IntegrityError:
        _check_name(name, exclude_pk=merchant.pk)
        raise
    if campaigns is not None:
        merchant_campaigns_set(merchant=merchant, campaigns=campaigns)
    return merchant


def merchant_invite_resend(*, merchant: Merchant, partner: Partner, site: SiteInfo) -> None:
    """Send the password-set email again (the link expired or got lost). Django's "forgot
    password" form skips accounts without a usable password, so this is the only way back in
    for a login that never chose one."""
    user = merchant.user
    if user is None:
        raise MerchantError("This merchant has no login to invite.", key="merchant_without_login")
    if user.has_usable_password():
        raise MerchantError(
            f"{user.email} has already chosen a password; if it is forgotten, use "
            "“Forgot your password?” on the sign-in page.",
            key="password_already_set",
        )
    send_password_set_email(user=user, partner=partner, site=site)


def merchant_key_issue(
    *, partner: Partner, merchant: Merchant | None, name: str = "", actor: Actor = None
) -> IssuedKey:
    """A merchant key (or a partner key when `merchant` is None). The token in the result
    exists only in this answer: only its hash is stored."""
    return api_key_issue(
        partner=partner,
        merchant_id=merchant.pk if merchant is not None else None,
        name=name.strip(),
        actor=actor if getattr(actor, "pk", None) else None,
    )
