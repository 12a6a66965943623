"""The /v1 endpoints (Voucherify-compatible subset, ARCHITECTURE section 7). HTTP only: parse,
call the redemption services or read, answer in Voucherify's shapes.

Every view runs inside `api_endpoint`, so the connection is already in the key's partner
schema and `request.actor` / `request.api_key` are set. A merchant key sees only its own
redemptions and the codes of campaigns it may redeem; anything else is a 404, as is every
object of another partner (it lives in another schema and cannot be found from here)."""

from __future__ import annotations

import re

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from guardian.shortcuts import get_objects_for_user

from apps.accounts.permissions import API_MERCHANT, API_PARTNER
from apps.api import serializers as s
from apps.api.auth import api_endpoint, client_ip
from apps.api.errors import ApiError, request_id
from apps.api.idempotency import idempotent
from apps.api.payloads import paging, parse_redeem, parse_rollback, read_json
from apps.campaigns.models import Campaign, Voucher
from apps.redemptions import throttle
from apps.redemptions.models import Redemption
from apps.redemptions.services import (
    RedemptionError,
    clean_code,
    redemption_rollback,
    voucher_redeem,
    voucher_validate,
)

# Refusals about the request itself, not the code: answered as a 400 error body even by the
# validation endpoint (which answers refused codes with 200 and `valid: false`).
INPUT_KEYS = frozenset({"missing_code", "invalid_amount"})
REDEMPTION_ID = re.compile(r"r_[0-9a-f]{1,28}")


def _identities(request: HttpRequest) -> tuple[str, str]:
    return f"key:{request.api_key.pk}", f"ip:{client_ip(request) or ''}"  # type: ignore[attr-defined]


def _throttle(request: HttpRequest) -> None:
    """429 while this key or address is locked out for guessing codes."""
    wait = throttle.retry_after(*_identities(request))
    if wait > 0:
        raise ApiError(
            429,
            "too_many_requests",
            f"Too many unknown codes were tried from this key or address; try again in "
            f"{wait} seconds.",
            headers={"Retry-After": str(wait)},
        )


def _note_failure(request: HttpRequest, exc: RedemptionError) -> None:
    if exc.reason in throttle.GUESS_REASONS:
        throttle.record_failure(*_identities(request))


def _code_error(exc: RedemptionError, code: str, request: HttpRequest) -> JsonResponse:
    return JsonResponse(s.error_detail(exc, code, request_id(request)), status=exc.http_status)


@api_endpoint(API_MERCHANT, ("POST",))
def validations(request: HttpRequest) -> HttpResponse:
    """POST /v1/validations: is this code usable for this order? (writes nothing but the
    attempt log)."""
    _throttle(request)
    body = parse_redeem(read_json(request))
    rid = request_id(request)
    try:
        check = voucher_validate(
            actor=request.actor,  # type: ignore[attr-defined]
            code=body.code,
            order_amount=body.order_amount,
        )
    except RedemptionError as exc:
        _note_failure(request, exc)
        if exc.key in INPUT_KEYS:
            raise ApiError(exc.http_status, exc.key, exc.message) from None
        return JsonResponse(
            s.validation_invalid(exc, code=body.code, tracking_id=body.tracking_id, rid=rid)
        )
    return JsonResponse(
        s.validation_valid(check, order=body.order, tracking_id=body.tracking_id, rid=rid)
    )


def _redeem(request: HttpRequest) -> HttpResponse:
    body = parse_redeem(read_json(request))
    try:
        redemption = voucher_redeem(
            actor=request.actor,  # type: ignore[attr-defined]
            code=body.code,
            order_amount=body.order_amount,
            customer_ref=body.customer_ref,
            tracking_id=body.tracking_id,
            metadata=body.metadata,
        )
    except RedemptionError as exc:
        _note_failure(request, exc)
        return _code_error(exc, body.code, request)
    return JsonResponse(s.redeem_response(redemption, body.order))


def _own_redemptions(request: HttpRequest) -> QuerySet[Redemption]:
    qs = Redemption.objects.select_related("voucher", "campaign")
    merchant = request.actor.merchant  # type: ignore[attr-defined]
    return qs if merchant is None else qs.filter(merchant=merchant)


@api_endpoint(API_MERCHANT, ("GET", "POST"))
def redemptions(request: HttpRequest) -> HttpResponse:
    """POST /v1/redemptions: redeem one code. GET: the key's own redemptions, newest first."""
    if request.method == "POST":
        _throttle(request)
        return idempotent(request, lambda: _redeem(request))
    limit, page = paging(request.GET)
    qs = _own_redemptions(request)
    if campaign := request.GET.get("campaign"):
        qs = qs.filter(campaign__name=campaign)
    total = qs.count()
    rows = qs[(page - 1) * limit : page * limit]
    return JsonResponse(s.list_json("redemptions", [s.redemption_json(r) for r in rows], total))


def _no_redemption(redemption_id: str) -> ApiError:
    shown = redemption_id[:40].encode("unicode_escape").decode()
    return ApiError(
        404,
        "not_found",
        f"No redemption “{shown}” exists for this key. Redemption ids look like "
        "r_0123456789abcdef0123.",
        extra={"resource_id": shown, "resource_type": "redemption"},
    )


def _check_redemption_id(redemption_id: str) -> None:
    # Anything else cannot be an id; refusing it here also keeps NUL away from PostgreSQL.
    if not REDEMPTION_ID.fullmatch(redemption_id):
        raise _no_redemption(redemption_id)


@api_endpoint(API_MERCHANT, ("GET",))
def redemption_detail(request: HttpRequest, redemption_id: str) -> HttpResponse:
    """GET /v1/redemptions/{id}."""
    _check_redemption_id(redemption_id)
    redemption = _own_redemptions(request).filter(public_id=redemption_id).first()
    if redemption is None:
        raise _no_redemption(redemption_id)
    return JsonResponse(s.redemption_json(redemption))


def _rollback(request: HttpRequest, redemption_id: str) -> HttpResponse:
    body = parse_rollback(read_json(request, optional=True), request.GET)
    try:
        redemption = redemption_rollback(
            actor=request.actor,  # type: ignore[attr-defined]
            redemption_id=redemption_id,
            reason=body.reason,
        )
    except RedemptionError as exc:
        detail = s.error_detail(exc, redemption_id, request_id(request))
        detail["resource_type"] = "redemption"
        return JsonResponse(detail, status=exc.http_status)
    return JsonResponse(s.rollback_json(redemption, body.tracking_id))


@api_endpoint(API_MERCHANT, ("POST",))
def redemption_rollback_view(request: HttpRequest, redemption_id: str) -> HttpResponse:
    """POST /v1/redemptions/{id}/rollback: undo a redemption (merchants: their own, within
    the rollback window)."""
    _check_redemption_id(redemption_id)
    return idempotent(request, lambda: _rollback(request, redemption_id))


def _visible_vouchers(request: HttpRequest) -> QuerySet[Voucher]:
    qs = Voucher.objects.select_related("campaign")
    merchant = request.actor.merchant  # type: ignore[attr-defined]
    if merchant is None:
        return qs
    campaigns = get_objects_for_user(
        merchant.user, "campaigns.redeem_campaign", Campaign, accept_global_perms=False
    )
    return qs.filter(campaign__in=campaigns)


@api_endpoint(API_MERCHANT, ("GET",))
def voucher_detail(request: HttpRequest, code: str) -> HttpResponse:
    """GET /v1/vouchers/{code}. Counts as a guess when the code does not exist, like a failed
    validation: otherwise this would be a free oracle for guessing codes."""
    _throttle(request)
    try:
        clean = clean_code(code)
        voucher = _visible_vouchers(request).filter(code=clean).first()
        if voucher is None:
            raise RedemptionError(
                "not_found",
                f"No code “{clean}” exists here. Check the spelling and try again.",
                http_status=404,
            )
    except RedemptionError as exc:
        _note_failure(request, exc)
        return _code_error(exc, code, request)
    return JsonResponse(s.voucher_json(voucher))


@api_endpoint(API_PARTNER, ("GET",))
def vouchers(request: HttpRequest) -> HttpResponse:
    """GET /v1/vouchers: the partner's codes, filtered by campaign (name or id)."""
    limit, page = paging(request.GET)
    qs = Voucher.objects.select_related("campaign").order_by("id")
    if value := request.GET.get("campaign"):  # Voucherify: the name; we also take an id
        pk = s.parse_campaign_id(value)
        by_id = Q(campaign_id=pk) if pk is not None else Q(pk__in=[])
        qs = qs.filter(Q(campaign__name=value) | by_id)
    if value := request.GET.get("campaign_id"):
        pk = s.parse_campaign_id(value)
        if pk is None:
            raise ApiError(
                400,
                "invalid_param",
                f"“campaign_id” must be a campaign id such as camp_12; got “{value[:40]}”.",
            )
        qs = qs.filter(campaign_id=pk)
    total = qs.count()
    rows = qs[(page - 1) * limit : page * limit]
    return JsonResponse(s.list_json("vouchers", [s.voucher_json(v) for v in rows], total))
