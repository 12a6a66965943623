"""Reads for the partner's merchant pages: merchants, the campaigns each may redeem, their API
keys, per-merchant redemption numbers and the attempt log in plain words."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Max, Q, QuerySet, Sum
from guardian.models import UserObjectPermission

from apps.accounts.models import ApiKey
from apps.campaigns.models import Campaign
from apps.redemptions.models import Merchant, Redemption, RedemptionAttempt
from apps.tenancy.models import Partner

REDEEM_PERM = "redeem_campaign"

# The attempt log's reason keys (apps.redemptions.services and the API) in plain words.
REASON_TEXT = {
    "not_found": "No such code exists.",
    "invalid_code": "What was entered cannot be a code (too long, or characters no code has).",
    "missing_code": "No code was entered.",
    "quantity_exceeded": "The code had already been used up.",
    "voucher_expired": "The code had expired.",
    "voucher_not_active": "The code was not valid yet (its campaign had not started).",
    "outside_valid_window": "The code was used outside its valid days or hours.",
    "voucher_disabled": "The code or its campaign is switched off.",
    "merchant_not_allowed": (
        "This merchant may not redeem that campaign's codes, or the merchant account is "
        "switched off."
    ),
    "invalid_amount": "The order amount was not a whole, positive number of minor units.",
    "missing_amount": "No order amount was given, but the code takes a percentage off.",
    "already_rolled_back": "The redemption had already been rolled back.",
    "rollback_window_passed": "Too late to roll back: the rollback window had passed.",
    "too_many_requests": "Too many wrong codes in a short time; the caller was held back.",
}


def reason_text(reason: str) -> str:
    if not reason:
        return ""
    return REASON_TEXT.get(reason, f"Refused ({reason.replace('_', ' ')}).")


def money(minor: int | None) -> str:
    """Minor units as a decimal amount: 2599 → "25.99"."""
    if minor is None:
        return ""
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(int(minor)), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def merchant_list(*, q: str = "") -> QuerySet[Merchant]:
    merchants = Merchant.objects.select_related("user").order_by("name")
    if q:
        merchants = merchants.filter(Q(name__icontains=q) | Q(location__icontains=q))
    return merchants


def merchant_campaigns(*, merchant: Merchant) -> QuerySet[Campaign]:
    """The campaigns the merchant's login holds `redeem_campaign` on (direct grants only:
    merchants never get it through a group or globally)."""
    if merchant.user_id is None:
        return Campaign.objects.none()
    granted = UserObjectPermission.objects.filter(
        user_id=merchant.user_id,
        permission__codename=REDEEM_PERM,
        content_type=ContentType.objects.get_for_model(Campaign),
    ).values_list("object_pk", flat=True)
    return Campaign.objects.filter(pk__in=[int(pk) for pk in granted]).order_by("name")


def merchant_keys(*, partner: Partner, merchant: Merchant) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(
        partner=partner, kind=ApiKey.Kind.MERCHANT, merchant_id=merchant.pk
    )


def partner_keys(*, partner: Partner) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(partner=partner, kind=ApiKey.Kind.PARTNER)


def merchant_keys_all(*, partner: Partner) -> list[tuple[ApiKey, Merchant | None]]:
    """Every merchant key of the partner with its merchant (two queries: keys are public,
    merchants live in the partner's schema, so there is no join)."""
    keys = list(ApiKey.objects.filter(partner=partner, kind=ApiKey.Kind.MERCHANT))
    merchants = Merchant.objects.in_bulk({k.merchant_id for k in keys if k.merchant_id})
    return [(key, merchants.get(key.merchant_id or 0)) for key in keys]


@dataclass(frozen=True)
class Numbers:
    """Successful (not rolled back) redemptions of one merchant."""

    count: int = 0
    discount_total: int = 0
    last_at: dt.datetime | None = None

    @property
    def discount_total_text(self) -> str:
        return money(self.discount_total)


def _numbers_query(**filters: Any) -> QuerySet[Any]:
    return (
        Redemption.objects.filter(status=Redemption.Status.SUCCEEDED, **filters)
        .values("merchant_id")
        .annotate(
            count=Count("id"), discount_total=Sum("discount_amount"), last_at=Max("created_at")
        )
        .order_by()
    )


def merchant_numbers(*, merchant: Merchant) -> Numbers:
    row = next(iter(_numbers_query(merchant=merchant)), None)
    if row is None:
        return Numbers()
    return Numbers(row["count"], row["discount_total"] or 0, row["last_at"])


@dataclass(frozen=True)
class NumbersRow:
    merchant: Merchant | None  # None: redemptions made with a partner key (no merchant)
    numbers: Numbers


def numbers_by_merchant() -> tuple[list[NumbersRow], Numbers]:
    """One row per merchant (with zeros for those without redemptions) and the totals. The
    numbers are one grouped aggregate query; the merchants' names one plain query."""
    by_merchant = {
        row["merchant_id"]: Numbers(row["count"], row["discount_total"] or 0, row["last_at"])
        for row in _numbers_query()
    }
    rows = [
        NumbersRow(m, by_merchant.get(m.pk, Numbers())) for m in Merchant.objects.order_by("name")
    ]
    if None in by_merchant:
        rows.append(NumbersRow(None, by_merchant[None]))
    values = list(by_merchant.values())
    lasts = [n.last_at for n in values if n.last_at]
    total = Numbers(
        count=sum(n.count for n in values),
        discount_total=sum(n.discount_total for n in values),
        last_at=max(lasts) if lasts else None,
    )
    return rows, total


def attempt_list(
    *, merchant_id: int | None = None, result: str = "", action: str = ""
) -> QuerySet[RedemptionAttempt]:
    """The attempt log, filtered; newest first when paged with keyset_page(newest_first=True)."""
    attempts = RedemptionAttempt.objects.select_related("merchant", "redemption")
    if merchant_id:
        attempts = attempts.filter(merchant_id=merchant_id)
    if result == "ok":
        attempts = attempts.filter(ok=True)
    elif result == "failed":
        attempts = attempts.filter(ok=False)
    if action in RedemptionAttempt.Action.values:
        attempts = attempts.filter(action=action)
    return attempts


ATTEMPT_EXPORT_COLUMNS = (
    "created_at",
    "merchant",
    "action",
    "code",
    "result",
    "reason",
    "explanation",
    "channel",
    "order_amount",
    "api_key_id",
    "redemption_id",
)


def attempt_export_rows(**filters: Any) -> Any:
    """The filtered attempt log as rows of ATTEMPT_EXPORT_COLUMNS, newest first, read from a
    server-side cursor in chunks."""
    rows = (
        attempt_list(**filters)
        .order_by("-pk")
        .values_list(
            "created_at",
            "merchant__name",
            "action",
            "code",
            "ok",
            "reason",
            "channel",
            "order_amount",
            "api_key_id",
            "redemption__public_id",
        )
    )
    for (
        created,
        merchant,
        action,
        code,
        ok,
        reason,
        channel,
        amount,
        key_id,
        public_id,
    ) in rows.iterator(chunk_size=2000):
        yield (
            created,
            merchant or "",
            action,
            code,
            "ok" if ok else "failed",
            reason,
            reason_text(reason),
            channel,
            amount,
            key_id,
            public_id or "",
        )
