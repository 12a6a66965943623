"""A partner's campaigns and their codes (partner schema).

`CampaignTerms` is what a brand program and a partner campaign share: the discount, the
validity window and the code format. A partner's Campaign is a copy of the program's terms
made on the first allocation, so later program edits never change codes already handed out.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from apps.campaigns.codegen import Charset, CodeFormat
from apps.core.models import TimeStamped

WEEKDAYS = (
    (0, "Monday"),
    (1, "Tuesday"),
    (2, "Wednesday"),
    (3, "Thursday"),
    (4, "Friday"),
    (5, "Saturday"),
    (6, "Sunday"),
)


class DiscountType(models.TextChoices):
    AMOUNT = "AMOUNT", "Amount off"
    PERCENT = "PERCENT", "Percent off"
    UNIT = "UNIT", "Free units"


CODE_FORMAT_FIELDS = (
    "code_length",
    "code_charset",
    "code_custom_charset",
    "code_prefix",
    "code_postfix",
    "code_pattern",
)


class CampaignTerms(models.Model):
    """Discount, validity and code format (abstract: Program and Campaign both carry them)."""

    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    discount_type = models.CharField(
        max_length=10, choices=DiscountType.choices, default=DiscountType.AMOUNT
    )
    # AMOUNT: minor units off the order (1050 = 10.50).
    amount_off = models.PositiveIntegerField(null=True, blank=True)
    # PERCENT: 0-100, with an optional cap in minor units.
    percent_off = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    amount_limit = models.PositiveIntegerField(null=True, blank=True)
    # UNIT: this many units of `unit_type` free.
    unit_off = models.PositiveIntegerField(null=True, blank=True)
    unit_type = models.CharField(max_length=60, blank=True)
    # Redemptions allowed per code: 1 = single-use, empty = unlimited.
    redemption_limit = models.PositiveIntegerField(
        null=True, blank=True, default=1, validators=[MinValueValidator(1)]
    )
    start_date = models.DateTimeField(null=True, blank=True)
    expiration_date = models.DateTimeField(null=True, blank=True)
    # Weekdays (0 = Monday) on which codes are valid; empty = every day.
    valid_days = models.JSONField(default=list, blank=True)
    valid_hours_start = models.TimeField(null=True, blank=True)
    valid_hours_end = models.TimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    # Code format (see apps.campaigns.codegen.CodeFormat).
    code_length = models.PositiveSmallIntegerField(default=10)
    code_charset = models.CharField(
        max_length=20,
        choices=[(c.value, c.value.title()) for c in Charset],
        default=Charset.ALPHANUMERIC.value,
    )
    code_custom_charset = models.CharField(max_length=100, blank=True)
    code_prefix = models.CharField(max_length=20, blank=True)
    code_postfix = models.CharField(max_length=20, blank=True)
    code_pattern = models.CharField(max_length=64, blank=True)

    TERM_FIELDS = (
        "name",
        "description",
        "discount_type",
        "amount_off",
        "percent_off",
        "amount_limit",
        "unit_off",
        "unit_type",
        "redemption_limit",
        "start_date",
        "expiration_date",
        "valid_days",
        "valid_hours_start",
        "valid_hours_end",
        "active",
        *CODE_FORMAT_FIELDS,
    )

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.name

    def code_format(self) -> CodeFormat:
        return CodeFormat(
            length=self.code_length,
            charset=Charset(self.code_charset),
            custom_charset=self.code_custom_charset,
            prefix=self.code_prefix,
            postfix=self.code_postfix,
            pattern=self.code_pattern,
        )

    def terms(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.TERM_FIELDS}

    def discount_amount(self, order_amount: int | None) -> int:
        """Discount in minor units for an order of `order_amount` (0 for UNIT discounts)."""
        if self.discount_type == DiscountType.AMOUNT:
            off = self.amount_off or 0
            return min(off, order_amount) if order_amount is not None else off
        if self.discount_type == DiscountType.PERCENT:
            if order_amount is None:
                return 0
            off = int(order_amount * (self.percent_off or 0) / 100)
            return min(off, self.amount_limit) if self.amount_limit is not None else off
        return 0

    def discount_text(self) -> str:
        if self.discount_type == DiscountType.AMOUNT:
            return f"{(self.amount_off or 0) / 100:,.2f} off"
        if self.discount_type == DiscountType.PERCENT:
            text = f"{Decimal(str(self.percent_off or 0)).normalize():f}% off"
            if self.amount_limit is not None:
                text += f" (up to {self.amount_limit / 100:,.2f})"
            return text
        return f"{self.unit_off or 0} × {self.unit_type or 'unit'} free"

    def validity_text(self) -> str:
        parts = []
        if self.start_date:
            parts.append(f"from {timezone.localtime(self.start_date):%Y-%m-%d %H:%M}")
        if self.expiration_date:
            parts.append(f"until {timezone.localtime(self.expiration_date):%Y-%m-%d %H:%M}")
        if self.valid_days:
            names = dict(WEEKDAYS)
            parts.append("on " + ", ".join(names[d][:3] for d in sorted(self.valid_days)))
        if self.valid_hours_start and self.valid_hours_end:
            parts.append(f"{self.valid_hours_start:%H:%M}–{self.valid_hours_end:%H:%M}")
        return ", ".join(parts) or "always"

    def in_valid_window(self, when: dt.datetime) -> bool:
        local = timezone.localtime(when)
        if self.valid_days and local.weekday() not in self.valid_days:
            return False
        if self.valid_hours_start and self.valid_hours_end:
            t = local.time()
            if self.valid_hours_start <= self.valid_hours_end:
                return self.valid_hours_start <= t < self.valid_hours_end
            return t >= self.valid_hours_start or t < self.valid_hours_end  # over midnight
        return True


class Campaign(CampaignTerms, TimeStamped):
    """A partner's pool of unique codes: a copy of a brand program's terms. Partners never
    edit it (no `change_campaign` for partner users); the brand does."""

    program_id = models.BigIntegerField(unique=True, help_text="The brand program (public).")
    vouchers_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("redeem_campaign", "Can validate and redeem this campaign's codes"),
            ("distribute_campaign", "Can distribute this campaign's codes"),
        ]


class VoucherQuerySet(models.QuerySet["Voucher"]):
    def available(self) -> VoucherQuerySet:
        return self.filter(published_at__isnull=True, active=True)

    def with_status(self, status: str) -> VoucherQuerySet:
        if status == "available":
            return self.available().filter(redeemed_quantity=0)
        if status == "published":
            return self.filter(published_at__isnull=False, redeemed_quantity=0)
        if status == "redeemed":
            return self.filter(redeemed_quantity__gt=0)
        if status == "disabled":
            return self.filter(active=False)
        return self


class Voucher(models.Model):
    """One unique code. `redeemed_quantity` only moves under a row lock (see
    apps.redemptions.services); the check constraint is the backstop."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="vouchers")
    code = models.CharField(max_length=100, unique=True)
    active = models.BooleanField(default=True)
    redeemed_quantity = models.PositiveIntegerField(default=0)
    # Redemption limit copied from the campaign at generation (NULL = unlimited), so the check
    # constraint can hold the line without a join.
    redemption_limit = models.PositiveIntegerField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = VoucherQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["campaign", "published_at"], name="voucher_pool_idx"),
            # The codes table pages by id within a campaign.
            models.Index(fields=["campaign", "id"], name="voucher_campaign_page_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(redemption_limit__isnull=True)
                | models.Q(redeemed_quantity__lte=models.F("redemption_limit")),
                name="voucher_not_over_redeemed",
            )
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def status(self) -> str:
        if not self.active:
            return "disabled"
        if self.redemption_limit is not None and self.redeemed_quantity >= self.redemption_limit:
            return "used up"
        if self.redeemed_quantity:
            return "redeemed"
        if self.published_at:
            return "published"
        return "available"
