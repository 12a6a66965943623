"""The sidebar: which links a role sees in the brand console and in a partner portal.
Each entry names the capability that its page declares, so a menu never offers a 403."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from apps.accounts import permissions as p


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    capability: str
    section: str = ""


BRAND_NAV = (
    NavItem("Dashboard", "brand:dashboard", p.BRAND_VIEW, "Brand console"),
    NavItem("Partners", "brand:partner_list", p.BRAND_VIEW, "Brand console"),
    NavItem("Programs", "brand:program_list", p.BRAND_VIEW, "Brand console"),
    NavItem("Allocations", "brand:allocation_list", p.BRAND_VIEW, "Brand console"),
)
PARTNER_NAV = (
    NavItem("Overview", "portal:home", p.PORTAL_VIEW, "Partner"),
    NavItem("Campaigns", "campaigns:list", p.CAMPAIGNS_VIEW, "Partner"),
    NavItem("Customers", "customers:list", p.AUDIENCE_VIEW, "Partner"),
    NavItem("Segments", "segments:list", p.AUDIENCE_VIEW, "Partner"),
    NavItem("Distributions", "distributions:list", p.DISTRIBUTIONS_VIEW, "Partner"),
    NavItem("Channels", "channels:list", p.CHANNELS_VIEW, "Partner"),
    NavItem("Outbox", "channels:outbox", p.CHANNELS_VIEW, "Partner"),
    NavItem("Merchants", "merchants:list", p.MERCHANTS_VIEW, "Partner"),
    NavItem("Redemptions", "merchants:redemptions", p.REDEMPTIONS_VIEW, "Partner"),
    NavItem("Redeem a code", "redemptions:redeem", p.REDEEM, "Merchant"),
    NavItem("My redemptions", "redemptions:history", p.REDEEM, "Merchant"),
)


def nav_items(request: HttpRequest) -> list[dict[str, str | bool]]:
    items = PARTNER_NAV if getattr(request, "tenant", None) is not None else BRAND_NAV
    capabilities: frozenset[str] = getattr(request, "capabilities", frozenset())
    result: list[dict[str, str | bool]] = []
    for item in items:
        if item.capability not in capabilities:
            continue
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:  # a page of a later release; not routed here
            continue
        result.append({"label": item.label, "url": url, "section": item.section})
    # The current entry is the one whose address is the longest prefix of this page's path
    # (a portal home "/p/x/" is a prefix of everything, so it only matches itself).
    matches = [
        entry
        for entry in result
        if request.path == entry["url"]
        or (str(entry["url"]).count("/") > 3 and request.path.startswith(str(entry["url"])))
    ]
    best = max(matches, key=lambda entry: len(str(entry["url"])), default=None)
    for entry in result:
        entry["current"] = entry is best
    return result
