"""Merchant pages under /p/<partner>/: check and redeem a code, see and roll back the
merchant's own redemptions. HTTP only: the rules live in apps.redemptions.services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from apps.accounts import permissions as perms
from apps.campaigns.models import Campaign, DiscountType, Voucher
from apps.core.htmx import render_page
from apps.core.permissions import capability
from apps.redemptions import selectors, throttle
from apps.redemptions.forms import RedeemForm
from apps.redemptions.models import Channel, Merchant, Redemption
from apps.redemptions.services import (
    ROLLBACK_WINDOW,
    Actor,
    RedemptionError,
    redemption_rollback,
    voucher_redeem,
    voucher_validate,
)

HISTORY_PAGE_SIZE = 25


@dataclass(frozen=True)
class Outcome:
    """What the result card shows after "Check" or "Redeem"."""

    kind: str  # "valid" | "redeemed" | "invalid" | "throttled"
    headline: str
    message: str = ""
    code: str = ""
    discount: int | None = None
    discount_text: str = ""  # the terms when they add something, e.g. "10% off (up to 5.00)"
    is_unit: bool = False  # free units: there is no amount to show
    order_amount: int | None = None
    amount_after: int | None = None
    redemption: Redemption | None = None
    retry_after: int = 0  # seconds, when throttled

    @property
    def ok(self) -> bool:
        return self.kind in ("valid", "redeemed")


def _client_ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "") or ""


def _wait_text(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)  # round up: never tell someone to come back too early
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _terms(campaign: Campaign, discount: int) -> str:
    """The campaign's discount terms, unless they only repeat the amount ("5.00 off")."""
    text = campaign.discount_text()
    if campaign.discount_type == DiscountType.AMOUNT and discount == (campaign.amount_off or 0):
        return ""
    return text


def _no_merchant(request: HttpRequest) -> HttpResponse:
    """The signed-in merchant login has no active Merchant in this partner: say who can fix it
    instead of failing (200: the role may be here; the partner has not finished setting it
    up). An HTMX request reloads the page so the explanation replaces it."""
    if getattr(request, "htmx", False):
        return HttpResponseClientRefresh()
    disabled = selectors.merchant_is_disabled(user=request.user)
    return render(
        request,
        "redemptions/no_merchant.html",
        {"partner": request.tenant, "disabled": disabled},  # type: ignore[attr-defined]
    )


def _actor(request: HttpRequest, merchant: Merchant) -> Actor:
    return Actor(
        channel=Channel.WEB, merchant=merchant, user=request.user, ip=_client_ip(request) or None
    )


def _attempt(request: HttpRequest, merchant: Merchant, form: RedeemForm) -> tuple[Outcome, int]:
    """Run "Check" or "Redeem" for a valid form; the outcome card and the HTTP status."""
    identities = (f"merchant:{merchant.pk}", f"ip:{_client_ip(request)}")
    wait = throttle.retry_after(*identities)
    if wait:
        return (
            Outcome(
                kind="throttled",
                headline="Too many unknown codes",
                message=f"Too many codes that do not exist were tried from this account or "
                f"address. To stop guessing, checking is paused: try again in "
                f"{_wait_text(wait)}.",
                retry_after=wait,
            ),
            429,
        )
    data = form.cleaned_data
    actor = _actor(request, merchant)
    redeeming = request.POST.get("action") == "redeem"
    try:
        if redeeming:
            redemption = voucher_redeem(
                actor=actor,
                code=data["code"],
                order_amount=data["order_amount"],
                customer_ref=data["customer_ref"],
            )
            return _success(
                "redeemed",
                redemption.voucher,
                redemption.campaign,
                redemption.discount_amount,
                redemption.order_amount,
                redemption,
            ), 200
        check = voucher_validate(actor=actor, code=data["code"], order_amount=data["order_amount"])
    except RedemptionError as exc:
        if exc.reason in throttle.GUESS_REASONS:
            throttle.record_failure(*identities)
        headline = "Not redeemed" if redeeming else "Not valid"
        return Outcome(kind="invalid", headline=headline, message=exc.message), 200
    return _success(
        "valid", check.voucher, check.campaign, check.discount, check.order_amount, None
    ), 200


def _success(
    kind: str,
    voucher: Voucher,
    campaign: Campaign,
    discount: int,
    order_amount: int | None,
    redemption: Redemption | None,
) -> Outcome:
    return Outcome(
        kind=kind,
        headline="Redeemed" if kind == "redeemed" else "Valid",
        code=voucher.code,
        discount=discount,
        discount_text=_terms(campaign, discount),
        is_unit=campaign.discount_type == DiscountType.UNIT,
        order_amount=order_amount,
        amount_after=None if order_amount is None else order_amount - discount,
        redemption=redemption,
    )


@capability(perms.REDEEM)
def redeem(request: HttpRequest) -> HttpResponse:
    merchant = selectors.merchant_for_user(user=request.user)
    if merchant is None:
        return _no_merchant(request)
    form = RedeemForm(request.POST or None)
    outcome: Outcome | None = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            outcome, status = _attempt(request, merchant, form)
            if outcome.kind == "redeemed":
                form = RedeemForm()  # ready for the next customer
        else:
            status = 400
    context: dict[str, Any] = {"form": form, "outcome": outcome, "merchant": merchant}
    response = render_page(request, "redemptions/redeem.html", context, "panel", status)
    if outcome is not None and outcome.retry_after:
        response["Retry-After"] = str(outcome.retry_after)
    return response


@capability(perms.REDEEM)
def history(request: HttpRequest) -> HttpResponse:
    merchant = selectors.merchant_for_user(user=request.user)
    if merchant is None:
        return _no_merchant(request)
    page = Paginator(selectors.merchant_redemptions(merchant=merchant), HISTORY_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "redemptions/history.html",
        {
            "merchant": merchant,
            "page": page,
            "rollback_since": timezone.now() - ROLLBACK_WINDOW,
            "window_hours": int(ROLLBACK_WINDOW.total_seconds() // 3600),
        },
    )


@capability(perms.REDEEM)
@require_POST
def rollback(request: HttpRequest, redemption_id: int) -> HttpResponse:
    merchant = selectors.merchant_for_user(user=request.user)
    if merchant is None:
        return _no_merchant(request)
    # Another merchant's redemption is a 404: the id alone must not confirm that it exists.
    redemption = get_object_or_404(
        Redemption.objects.select_related("voucher"), pk=redemption_id, merchant=merchant
    )
    try:
        redemption_rollback(
            actor=_actor(request, merchant),
            redemption_id=redemption.pk,
            reason="Rolled back by the merchant on the web form.",
        )
    except RedemptionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Redemption of {redemption.voucher.code} rolled back: the code can be used again.",
        )
    page = request.POST.get("page", "")
    url = redirect("redemptions:history").url
    return redirect(f"{url}?page={page}" if page.isdigit() else url)
