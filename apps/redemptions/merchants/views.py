"""Partner pages under /p/<partner>/merchants/: merchant accounts, the campaigns each may
redeem, API keys (merchant and partner), and per-merchant redemption numbers.

A new API key's token is rendered straight into the answer to the POST that issued it and is
never stored anywhere readable (not even in the session), so it cannot be shown again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from apps.accounts import permissions as perms
from apps.accounts.actors import request_actor
from apps.accounts.apikeys import IssuedKey, api_key_revoke
from apps.accounts.models import ApiKey
from apps.campaigns.selectors import keyset_page
from apps.core.csv import streamed_csv
from apps.core.htmx import is_fragment, render_form, render_page
from apps.core.permissions import capability, has_capability
from apps.core.refusals import refusal_as_message, refusal_on_form
from apps.redemptions.merchants import selectors
from apps.redemptions.merchants.forms import (
    ApiKeyForm,
    AttemptFilterForm,
    MerchantCreateForm,
    MerchantEditForm,
)
from apps.redemptions.merchants.services import (
    MerchantError,
    SiteInfo,
    merchant_create,
    merchant_invite_resend,
    merchant_key_issue,
    merchant_update,
)
from apps.redemptions.models import Merchant


def _site(request: HttpRequest) -> SiteInfo:
    return SiteInfo(domain=request.get_host(), use_https=request.is_secure())


def _no_store(response: HttpResponse) -> HttpResponse:
    # Pages that may carry a fresh token must not be kept by the browser or a proxy.
    response["Cache-Control"] = "no-store"
    return response


@capability(perms.MERCHANTS_VIEW)
def merchant_list_view(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    page = Paginator(selectors.merchant_list(q=query), 50).get_page(request.GET.get("page"))
    return render_page(request, "merchants/list.html", {"page": page, "q": query})


@capability(perms.MERCHANTS_MANAGE)
def merchant_create_view(request: HttpRequest) -> HttpResponse:
    form = MerchantCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        with refusal_on_form(form, MerchantError):
            merchant = merchant_create(
                partner=request.tenant,  # type: ignore[attr-defined]
                name=data["name"],
                location=data["location"],
                email=data["email"],
                campaigns=data["campaigns"],
                site=_site(request),
                actor=request_actor(request),
            )
            messages.success(request, f"Created the merchant “{merchant.name}”.")
            return redirect("merchants:detail", merchant_id=merchant.pk)
    return render_form(request, "merchants/form.html", form)


def _attempt_rows(attempts: Any) -> list[tuple[Any, str, str]]:
    """(attempt, its reason in words, its order amount as a decimal) for the attempt tables."""
    return [(a, selectors.reason_text(a.reason), selectors.money(a.order_amount)) for a in attempts]


def _detail_context(request: HttpRequest, merchant: Merchant) -> dict[str, Any]:
    partner = request.tenant  # type: ignore[attr-defined]
    return {
        "merchant": merchant,
        "campaigns": selectors.merchant_campaigns(merchant=merchant),
        "numbers": selectors.merchant_numbers(merchant=merchant),
        "keys": selectors.merchant_keys(partner=partner, merchant=merchant),
        "attempts": _attempt_rows(
            selectors.attempt_list(merchant_id=merchant.pk).order_by("-pk")[:10]
        ),
        "key_form": ApiKeyForm(),
        "can_manage": has_capability(request, perms.MERCHANTS_MANAGE),
    }


@capability(perms.MERCHANTS_VIEW)
def merchant_detail(request: HttpRequest, merchant_id: int) -> HttpResponse:
    merchant = get_object_or_404(Merchant.objects.select_related("user"), pk=merchant_id)
    return render_page(request, "merchants/detail.html", _detail_context(request, merchant))


@capability(perms.MERCHANTS_MANAGE)
def merchant_edit(request: HttpRequest, merchant_id: int) -> HttpResponse:
    merchant = get_object_or_404(Merchant.objects.select_related("user"), pk=merchant_id)
    initial = {
        "name": merchant.name,
        "location": merchant.location,
        "is_active": merchant.is_active,
        "campaigns": list(selectors.merchant_campaigns(merchant=merchant)),
    }
    form = MerchantEditForm(request.POST or None, initial=initial, merchant=merchant)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        with refusal_on_form(form, MerchantError):
            merchant_update(
                merchant=merchant,
                name=data["name"],
                location=data["location"],
                is_active=data["is_active"],
                campaigns=None if merchant.user_id is None else data["campaigns"],
            )
            messages.success(request, f"Saved “{merchant.name}”.")
            return redirect("merchants:detail", merchant_id=merchant.pk)
    return render_form(request, "merchants/form.html", form, {"merchant": merchant})


@capability(perms.MERCHANTS_MANAGE)
@require_POST
def merchant_invite(request: HttpRequest, merchant_id: int) -> HttpResponse:
    merchant = get_object_or_404(Merchant.objects.select_related("user"), pk=merchant_id)
    with refusal_as_message(request, MerchantError, level=messages.WARNING):
        merchant_invite_resend(
            merchant=merchant,
            partner=request.tenant,  # type: ignore[attr-defined]
            site=_site(request),
        )
        messages.success(request, f"Sent a new password link to {merchant.user.email}.")  # type: ignore[union-attr]
    return redirect("merchants:detail", merchant_id=merchant.pk)


@capability(perms.MERCHANTS_MANAGE)
@require_POST
def merchant_key_create(request: HttpRequest, merchant_id: int) -> HttpResponse:
    merchant = get_object_or_404(Merchant.objects.select_related("user"), pk=merchant_id)
    return _key_issue_page(
        request, merchant, "merchants/detail.html", lambda: _detail_context(request, merchant)
    )


def _key_issue_page(
    request: HttpRequest,
    merchant: Merchant | None,
    template: str,
    page_context: Callable[[], dict[str, Any]],
) -> HttpResponse:
    """Issue a key (a merchant's, or the partner's own when `merchant` is None) from the posted
    form and answer with the page that lists keys, showing the token this once. The page's
    context is built after the key exists, so the new key is in its list."""
    form = ApiKeyForm(request.POST)
    issued: IssuedKey | None = None
    if form.is_valid():
        issued = merchant_key_issue(
            partner=request.tenant,  # type: ignore[attr-defined]
            merchant=merchant,
            name=form.cleaned_data["name"],
            actor=request_actor(request),
        )
    context = {**page_context(), "issued": issued}
    if not form.is_valid():
        context["key_form"] = form
    return _no_store(render_page(request, template, context, status=200 if issued else 400))


def _partner_key(request: HttpRequest, key_id: int, **scope: Any) -> ApiKey:
    """A key of the current partner (narrowed by `scope`), else 404: another partner's or
    another merchant's key does not exist from here."""
    key = ApiKey.objects.filter(partner=request.tenant, pk=key_id, **scope).first()  # type: ignore[attr-defined]
    if key is None:
        raise Http404("No such API key.")
    return key


@capability(perms.MERCHANTS_MANAGE)
@require_POST
def merchant_key_revoke(request: HttpRequest, merchant_id: int, key_id: int) -> HttpResponse:
    merchant = get_object_or_404(Merchant, pk=merchant_id)
    key = _partner_key(request, key_id, kind=ApiKey.Kind.MERCHANT, merchant_id=merchant.pk)
    api_key_revoke(key=key)
    messages.success(request, f"Revoked the key {key.app_id}; it no longer authenticates.")
    return redirect("merchants:detail", merchant_id=merchant.pk)


def _keys_context(request: HttpRequest) -> dict[str, Any]:
    partner = request.tenant  # type: ignore[attr-defined]
    return {
        "keys": selectors.partner_keys(partner=partner),
        "merchant_keys": selectors.merchant_keys_all(partner=partner),
        "key_form": ApiKeyForm(),
        "can_manage": has_capability(request, perms.MERCHANTS_MANAGE),
    }


@capability(perms.MERCHANTS_VIEW)
def partner_keys_view(request: HttpRequest) -> HttpResponse:
    return render_page(request, "merchants/keys.html", _keys_context(request))


@capability(perms.MERCHANTS_MANAGE)
@require_POST
def partner_key_create(request: HttpRequest) -> HttpResponse:
    return _key_issue_page(request, None, "merchants/keys.html", lambda: _keys_context(request))


@capability(perms.MERCHANTS_MANAGE)
@require_POST
def partner_key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    # The keys page lists every key of the partner, so any of them (partner or merchant key)
    # can be revoked from there; keys of other partners stay a 404.
    key = _partner_key(request, key_id)
    api_key_revoke(key=key)
    messages.success(request, f"Revoked the key {key.app_id}; it no longer authenticates.")
    return redirect("merchants:partner_keys")


@capability(perms.REDEMPTIONS_VIEW)
def redemption_numbers(request: HttpRequest) -> HttpResponse:
    filter_form = AttemptFilterForm(request.GET or None)
    filters = filter_form.values()
    page = keyset_page(
        selectors.attempt_list(**filters),  # type: ignore[arg-type]
        after=request.GET.get("after"),
        before=request.GET.get("before"),
        newest_first=True,
    )
    rows, total = selectors.numbers_by_merchant() if not is_fragment(request) else ([], None)
    query = urlencode(
        {
            name: value
            for name, value in (
                ("merchant", filters["merchant_id"]),
                ("result", filters["result"]),
                ("action", filters["action"]),
            )
            if value
        }
    )
    context = {
        "rows": rows,
        "total": total,
        "filter_form": filter_form,
        "filters": filters,
        "filter_query": query,
        "page": page,
        "attempts": _attempt_rows(page.items),
    }
    return render_page(request, "merchants/redemptions.html", context, fragment="attempts")


@capability(perms.REDEMPTIONS_VIEW)
def attempts_export(request: HttpRequest) -> HttpResponse:
    filters = AttemptFilterForm(request.GET or None).values()
    return streamed_csv(  # type: ignore[return-value]
        filename="redemption-attempts.csv",
        header=selectors.ATTEMPT_EXPORT_COLUMNS,
        rows=lambda: selectors.attempt_export_rows(**filters),
    )
