"""Partner pages for campaigns: list, detail with the codes table, CSV export, and the brand's
edit form. Partner users only read: they hold no `change_campaign` (ARCHITECTURE section 4)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.text import slugify
from guardian.core import ObjectPermissionChecker

from apps.accounts import permissions as perms
from apps.campaigns.forms import CampaignEditForm, CodeFilterForm
from apps.campaigns.models import Campaign
from apps.campaigns.selectors import (
    EXPORT_COLUMNS,
    PoolStatus,
    campaign_counts,
    campaign_list,
    keyset_page,
    voucher_export_rows,
    voucher_list,
)
from apps.core.csv import streamed_csv
from apps.core.htmx import is_fragment, render_form, render_page
from apps.core.permissions import capability, has_capability


def can_edit_campaign(user: Any, campaign: Campaign) -> bool:
    """The object-level check behind the edit page: brand admins, or someone granted
    `change_campaign` on this campaign. Partner users are never granted it."""
    if getattr(user, "is_brand_admin", False):
        return True
    return ObjectPermissionChecker(user).has_perm("change_campaign", campaign)


@capability(perms.CAMPAIGNS_VIEW)
def campaign_list_view(request: HttpRequest) -> HttpResponse:
    return render_page(request, "campaigns/list.html", {"campaigns": list(campaign_list())})


@capability(perms.CAMPAIGNS_VIEW)
def campaign_detail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    filter_form = CodeFilterForm(request.GET or None)
    filters = filter_form.values()
    page = keyset_page(
        voucher_list(campaign=campaign, **filters),
        after=request.GET.get("after"),
        before=request.GET.get("before"),
    )
    # The counts cost a pass over the pool; the table fragment does not show them.
    counts = None if is_fragment(request) else campaign_counts(campaign=campaign)
    matching = None
    if counts is not None and not filters["q"] and filters["status"] != "published":
        # "published" in the filter means published and not redeemed yet, which no headline
        # count measures; every other unsearched view has its count already.
        matching = counts[filters["status"] or "total"]
    filter_query = urlencode(
        {k: v for k, v in filters.items() if v and (k != "match" or v != "prefix")}
    )
    context = {
        "campaign": campaign,
        "counts": counts,
        # Publishing (apps.customers) warns when a pool runs low; show the same here.
        "pool": PoolStatus(total=counts["total"], left=counts["available"]) if counts else None,
        "filter_form": filter_form,
        "filters": filters,
        "filter_query": filter_query,
        "page": page,
        "matching": matching,
        "can_edit": has_capability(request, perms.CAMPAIGNS_EDIT),
    }
    return render_page(request, "campaigns/detail.html", context, fragment="codes")


@capability(perms.CAMPAIGNS_VIEW)
def campaign_export(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    status = CodeFilterForm(request.GET or None).values()["status"]
    name = slugify(campaign.name) or f"campaign-{campaign.pk}"
    suffix = f"-{status}" if status else ""
    # A streaming response is no HttpResponse subclass, but @capability only passes it on.
    return streamed_csv(  # type: ignore[return-value]
        filename=f"{name}-codes{suffix}.csv",
        header=EXPORT_COLUMNS,
        rows=lambda: voucher_export_rows(campaign=campaign, status=status),
    )


@capability(perms.CAMPAIGNS_EDIT)
def campaign_edit(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    # The capability says "brand admin"; the object permission is the second lock, so a
    # partner user who somehow held the capability still could not change a campaign.
    if not can_edit_campaign(request.user, campaign):
        raise PermissionDenied("You may not change this campaign.")
    form = CampaignEditForm(request.POST or None, instance=campaign)
    if request.method == "POST" and form.is_valid():
        campaign_update(campaign=campaign, changes=form.cleaned_data)
        messages.success(request, f"Saved “{campaign.name}”.")
        return redirect("campaigns:detail", campaign_id=campaign.pk)
    return render_form(request, "campaigns/edit.html", form, {"campaign": campaign})


def campaign_update(*, campaign: Campaign, changes: dict[str, Any]) -> None:
    """Write only the edited columns: an allocation job may be moving `vouchers_count` on the
    same row, and a whole-row save would put its old value back."""
    fields = ("name", "description", "active", "expiration_date")
    values = {name: changes[name] for name in fields if name in changes}
    for name, value in values.items():
        setattr(campaign, name, value)
    campaign.save(update_fields=[*values, "updated_at"])
