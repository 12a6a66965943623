"""Reads for the merchant pages: which Merchant the signed-in user is, and its redemptions."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.redemptions.models import Merchant, Redemption


def merchant_for_user(*, user: Any) -> Merchant | None:
    """The active Merchant whose login is `user`, in the current partner schema."""
    if not getattr(user, "pk", None):
        return None
    return Merchant.objects.filter(user=user, is_active=True).first()


def merchant_is_disabled(*, user: Any) -> bool:
    """True when `user` has a Merchant that the partner switched off (not merely missing),
    so the page can say which of the two the partner has to fix."""
    return Merchant.objects.filter(user=user, is_active=False).exists()


def merchant_redemptions(*, merchant: Merchant) -> QuerySet[Redemption]:
    """The merchant's own redemptions, newest first (served by redemption_merchant_idx)."""
    return (
        Redemption.objects.filter(merchant=merchant)
        .select_related("voucher")
        .order_by("-created_at", "-id")
    )
