"""Merchants and what they redeem (partner schema). Every attempt, good or bad, is recorded
with who made it (merchant, API key or web user) and its result (ARCHITECTURE section 6)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models

from apps.campaigns.models import Campaign, Voucher
from apps.core.models import user_reference


class Merchant(models.Model):
    """A shop or till that validates and redeems codes. Its login is a public User with a
    `merchant` Membership; which campaigns it may redeem are guardian object permissions
    (`redeem_campaign`) granted to that user."""

    name = models.CharField(max_length=120, unique=True)
    location = models.CharField(max_length=200, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Channel(models.TextChoices):
    WEB = "web", "Web form"
    API = "api", "API"


def redemption_public_id() -> str:
    return "r_" + secrets.token_hex(10)


def rollback_public_id() -> str:
    return "rr_" + secrets.token_hex(10)


class Redemption(models.Model):
    """A successful redemption of one code, tied to the merchant that made it."""

    class Status(models.TextChoices):
        SUCCEEDED = "SUCCEEDED", "Redeemed"
        ROLLED_BACK = "ROLLED_BACK", "Rolled back"

    public_id = models.CharField(max_length=30, unique=True, default=redemption_public_id)
    voucher = models.ForeignKey(Voucher, on_delete=models.PROTECT, related_name="redemptions")
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="redemptions")
    merchant = models.ForeignKey(
        Merchant, null=True, blank=True, on_delete=models.PROTECT, related_name="redemptions"
    )
    api_key_id = models.BigIntegerField(null=True, blank=True)  # accounts.ApiKey (public)
    user = user_reference()
    channel = models.CharField(max_length=8, choices=Channel.choices)
    order_amount = models.BigIntegerField(null=True, blank=True)
    discount_amount = models.BigIntegerField(default=0)
    customer_ref = models.CharField(max_length=120, blank=True)
    tracking_id = models.CharField(max_length=120, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SUCCEEDED)
    created_at = models.DateTimeField(auto_now_add=True)
    rollback_id = models.CharField(max_length=30, blank=True)
    rolled_back_at = models.DateTimeField(null=True, blank=True)
    rollback_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["merchant", "-created_at"], name="redemption_merchant_idx")]

    def __str__(self) -> str:
        return self.public_id

    @property
    def amount_after_discount(self) -> int | None:
        if self.order_amount is None:
            return None
        return self.order_amount - self.discount_amount


class RedemptionAttempt(models.Model):
    """One validate / redeem / rollback request and its outcome."""

    class Action(models.TextChoices):
        VALIDATE = "validate", "Check"
        REDEEM = "redeem", "Redeem"
        ROLLBACK = "rollback", "Roll back"

    action = models.CharField(max_length=10, choices=Action.choices)
    code = models.CharField(max_length=100, blank=True)  # as typed, cut to 100 characters
    voucher = models.ForeignKey(
        Voucher, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    merchant = models.ForeignKey(
        Merchant, null=True, blank=True, on_delete=models.SET_NULL, related_name="attempts"
    )
    api_key_id = models.BigIntegerField(null=True, blank=True)
    user = user_reference()
    channel = models.CharField(max_length=8, choices=Channel.choices)
    ok = models.BooleanField()
    reason = models.CharField(max_length=60, blank=True)  # the error key when not ok
    order_amount = models.BigIntegerField(null=True, blank=True)
    redemption = models.ForeignKey(
        Redemption, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["merchant", "-created_at"], name="attempt_merchant_idx")]

    def __str__(self) -> str:
        return f"{self.action} {self.code}: {'ok' if self.ok else self.reason}"
