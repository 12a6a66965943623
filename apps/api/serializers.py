"""Model → JSON in Voucherify's shapes (API v2018-08-01): voucher, redemption, redemption
rollback, stacked validation and redemption answers, lists. Amounts are integers in minor
units; dates are ISO 8601 in UTC; ids carry Voucherify-like prefixes (`v_`, `camp_`, `r_`,
`rr_`) so a client written for Voucherify can store them unchanged."""

from __future__ import annotations

import datetime as dt
from typing import Any

from apps.api.errors import TITLES
from apps.campaigns.models import Campaign, DiscountType, Voucher
from apps.redemptions.models import Channel, Redemption
from apps.redemptions.services import Check, RedemptionError

# Voucherify numbers weekdays from Sunday = 0; our campaigns from Monday = 0.
_TO_VOUCHERIFY_DAY = {d: (d + 1) % 7 for d in range(7)}

# This API does not stack codes: one redeemable per request. Reported as Voucherify reports a
# project's stacking rules, so clients that read them see the truth.
STACKING_RULES = {
    "redeemables_limit": 1,
    "applicable_redeemables_limit": 1,
    "applicable_exclusive_redeemables_limit": 1,
    "applicable_redeemables_per_category_limit": 1,
    "applicable_redeemables_category_limits": {},
    "exclusive_categories": [],
    "joint_categories": [],
    "redeemables_application_mode": "ALL",
    "redeemables_sorting_rule": "REQUESTED_ORDER",
    "redeemables_no_effect_rule": "REDEEM_ANYWAY",
    "no_effect_skip_categories": [],
    "no_effect_redeem_anyway_categories": [],
    "redeemables_products_application_mode": "STACK",
    "redeemables_rollback_order_mode": "WITHOUT_ORDER",
}


def iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def voucher_id(voucher_pk: int) -> str:
    return f"v_{voucher_pk}"


def campaign_id(campaign_pk: int) -> str:
    return f"camp_{campaign_pk}"


def parse_campaign_id(value: str) -> int | None:
    """`camp_12` or `12` → 12; anything else → None."""
    digits = value.removeprefix("camp_")
    return int(digits) if digits.isdigit() and len(digits) < 19 else None


def discount(campaign: Campaign) -> dict[str, Any]:
    if campaign.discount_type == DiscountType.PERCENT:
        body: dict[str, Any] = {
            "type": "PERCENT",
            "percent_off": float(campaign.percent_off or 0),
            "effect": "APPLY_TO_ORDER",
        }
        if campaign.amount_limit is not None:
            body["amount_limit"] = campaign.amount_limit
        return body
    if campaign.discount_type == DiscountType.UNIT:
        return {
            "type": "UNIT",
            "unit_off": campaign.unit_off or 0,
            "unit_type": campaign.unit_type or None,
            "effect": "ADD_MISSING_ITEMS",
        }
    return {"type": "AMOUNT", "amount_off": campaign.amount_off or 0, "effect": "APPLY_TO_ORDER"}


def _validity(campaign: Campaign) -> dict[str, Any]:
    days = sorted(_TO_VOUCHERIFY_DAY[d] for d in campaign.valid_days or [])
    hours = None
    if campaign.valid_hours_start and campaign.valid_hours_end:
        hours = {
            "daily": [
                {
                    "start_time": f"{campaign.valid_hours_start:%H:%M}",
                    "expiration_time": f"{campaign.valid_hours_end:%H:%M}",
                    "days_of_week": days or list(range(7)),
                }
            ]
        }
    return {
        "start_date": iso(campaign.start_date),
        "expiration_date": iso(campaign.expiration_date),
        "validity_timeframe": None,
        "validity_day_of_week": days or None,
        "validity_hours": hours,
    }


def voucher_json(voucher: Voucher, campaign: Campaign | None = None) -> dict[str, Any]:
    campaign = campaign or voucher.campaign
    return {
        "id": voucher_id(voucher.pk),
        "code": voucher.code,
        "campaign": campaign.name,
        "campaign_id": campaign_id(campaign.pk),
        "category": None,
        "category_id": None,
        "categories": [],
        "type": "DISCOUNT_VOUCHER",
        "discount": discount(campaign),
        "gift": None,
        "loyalty_card": None,
        **_validity(campaign),
        "active": voucher.active and campaign.active,
        "additional_info": None,
        "metadata": {},
        "is_referral_code": False,
        "created_at": iso(voucher.created_at),
        "updated_at": None,
        "holder_id": None,
        "redemption": {
            "quantity": voucher.redemption_limit,
            "redeemed_quantity": voucher.redeemed_quantity,
            "object": "list",
            "url": f"/v1/vouchers/{voucher.code}/redemption",
        },
        "publish": {"object": "list", "count": 1 if voucher.published_at else 0},
        "object": "voucher",
    }


def order_json(
    amount: int | None, discount_amount: int, order: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """Voucherify's calculated order; None when no amount was sent (nothing to calculate)."""
    order = order or {}
    if amount is None and not order.get("id") and not order.get("source_id"):
        return None
    body: dict[str, Any] = {
        "id": order.get("id") or None,
        "source_id": order.get("source_id") or None,
        "object": "order",
        "metadata": {},
    }
    if amount is not None:
        body |= {
            "amount": amount,
            "discount_amount": discount_amount,
            "total_discount_amount": discount_amount,
            "total_amount": amount - discount_amount,
            "applied_discount_amount": discount_amount,
            "total_applied_discount_amount": discount_amount,
        }
    return body


def _channel(redemption: Redemption) -> dict[str, Any]:
    if redemption.channel == Channel.API:
        return {"channel_id": f"key_{redemption.api_key_id}", "channel_type": "API"}
    return {"channel_id": f"user_{redemption.user_id}", "channel_type": "USER"}


def _customer(ref: str) -> dict[str, Any] | None:
    return {"source_id": ref, "object": "customer"} if ref else None


def redemption_json(redemption: Redemption, order: dict[str, Any] | None = None) -> dict[str, Any]:
    voucher, campaign = redemption.voucher, redemption.campaign
    related = None
    if redemption.status == Redemption.Status.ROLLED_BACK:
        related = {
            "rollbacks": [{"id": redemption.rollback_id, "date": iso(redemption.rolled_back_at)}]
        }
    return {
        "id": redemption.public_id,
        "object": "redemption",
        "date": iso(redemption.created_at),
        "customer_id": None,
        "tracking_id": redemption.tracking_id or None,
        "metadata": redemption.metadata or {},
        "result": "SUCCESS",
        "status": redemption.status,
        "related_redemptions": related,
        "order": order_json(redemption.order_amount, redemption.discount_amount, order),
        "channel": _channel(redemption),
        "customer": _customer(redemption.customer_ref),
        "related_object_type": "voucher",
        "related_object_id": voucher_id(voucher.pk),
        "voucher": voucher_json(voucher, campaign),
    }


def rollback_json(redemption: Redemption, tracking_id: str = "") -> dict[str, Any]:
    voucher, campaign = redemption.voucher, redemption.campaign
    return {
        "id": redemption.rollback_id,
        "object": "redemption_rollback",
        "date": iso(redemption.rolled_back_at),
        "customer_id": None,
        "tracking_id": tracking_id or redemption.tracking_id or None,
        "metadata": redemption.metadata or {},
        "redemption": redemption.public_id,
        "reason": redemption.rollback_reason or None,
        "result": "SUCCESS",
        "status": "SUCCEEDED",
        "order": order_json(redemption.order_amount, 0),
        "channel": _channel(redemption),
        "customer": _customer(redemption.customer_ref),
        "related_object_type": "voucher",
        "related_object_id": voucher_id(voucher.pk),
        "voucher": voucher_json(voucher, campaign),
    }


def list_json(name: str, items: list[dict[str, Any]], total: int) -> dict[str, Any]:
    return {"object": "list", "data_ref": name, name: items, "total": total}


def error_detail(exc: RedemptionError, code: str, rid: str) -> dict[str, Any]:
    """A refused code as the `error` of an inapplicable redeemable (and the body of a refused
    redemption): the key, a title, and the sentence saying what to do."""

    return {
        "code": exc.http_status,
        "key": exc.key,
        "message": TITLES.get(exc.http_status, "Error"),
        "details": exc.message,
        "request_id": rid,
        "resource_id": code[:100],
        "resource_type": "voucher",
    }


def validation_valid(
    check: Check, *, order: dict[str, Any], tracking_id: str, rid: str
) -> dict[str, Any]:
    voucher, campaign = check.voucher, check.campaign
    calculated = order_json(check.order_amount, check.discount, order)
    return {
        "id": "valid_" + rid.removeprefix("v-"),
        "valid": True,
        "redeemables": [
            {
                "status": "APPLICABLE",
                "id": voucher.code,
                "object": "voucher",
                "order": calculated,
                "applicable_to": {"object": "list", "data_ref": "data", "data": [], "total": 0},
                "inapplicable_to": {"object": "list", "data_ref": "data", "data": [], "total": 0},
                "result": {"discount": discount(campaign)},
                "metadata": {},
                "categories": [],
                "campaign_name": campaign.name,
                "campaign_id": campaign_id(campaign.pk),
            }
        ],
        "inapplicable_redeemables": [],
        "skipped_redeemables": [],
        "order": calculated,
        "tracking_id": tracking_id or None,
        "stacking_rules": STACKING_RULES,
    }


def validation_invalid(
    exc: RedemptionError, *, code: str, tracking_id: str, rid: str
) -> dict[str, Any]:
    """Voucherify answers an unusable code with HTTP 200, `valid: false` and the error key."""
    redeemable = {
        "status": "INAPPLICABLE",
        "id": code[:100],
        "object": "voucher",
        "result": {"error": error_detail(exc, code, rid)},
    }
    return {
        "id": "valid_" + rid.removeprefix("v-"),
        "valid": False,
        "redeemables": [redeemable],
        "inapplicable_redeemables": [redeemable],
        "skipped_redeemables": [],
        "tracking_id": tracking_id or None,
        "stacking_rules": STACKING_RULES,
    }


def redeem_response(redemption: Redemption, order: dict[str, Any] | None) -> dict[str, Any]:
    body = redemption_json(redemption, order)
    return {
        "redemptions": [body],
        "order": body["order"],
        "inapplicable_redeemables": [],
        "skipped_redeemables": [],
    }
