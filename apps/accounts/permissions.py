"""Roles and what each may do (ARCHITECTURE section 4). Views name a capability with
`apps.core.permissions.capability`; this map decides who has it."""

from __future__ import annotations

BRAND_ADMIN = "brand_admin"
PARTNER_USER = "partner_user"
MERCHANT = "merchant"
ROLES = (BRAND_ADMIN, PARTNER_USER, MERCHANT)

# Brand console (public schema)
BRAND_VIEW = "brand.view"  # dashboard, partners' performance
BRAND_MANAGE = "brand.manage"  # create partners and programs, allocate and top up pools
# Partner portal (partner schema)
PORTAL_VIEW = "portal.view"  # the partner's home page
JOBS_VIEW = "jobs.view"  # progress of background jobs
CAMPAIGNS_VIEW = "campaigns.view"  # campaigns and codes, export
CAMPAIGNS_EDIT = "campaigns.edit"  # brand only: partners never edit a campaign
AUDIENCE_VIEW = "audience.view"
AUDIENCE_MANAGE = "audience.manage"
DISTRIBUTIONS_VIEW = "distributions.view"
DISTRIBUTIONS_MANAGE = "distributions.manage"
MERCHANTS_VIEW = "merchants.view"
MERCHANTS_MANAGE = "merchants.manage"
CHANNELS_VIEW = "channels.view"  # channel accounts (without secrets) and the outbox
CHANNELS_MANAGE = "channels.manage"  # connect, test and disconnect channel accounts
REDEEM = "redeem"  # validate and redeem codes, own redemptions
REDEMPTIONS_VIEW = "redemptions.view"  # all of the partner's redemptions, per merchant
# HTTP API (/v1): held by API keys, not by roles, so in no role map below. A merchant key
# has API_MERCHANT (validate, redeem, roll back, read its own); a partner key has both.
API_MERCHANT = "api.merchant"
API_PARTNER = "api.partner"

CAPABILITIES: dict[str, frozenset[str]] = {
    BRAND_ADMIN: frozenset(
        {
            BRAND_VIEW,
            BRAND_MANAGE,
            PORTAL_VIEW,
            JOBS_VIEW,
            CAMPAIGNS_VIEW,
            CAMPAIGNS_EDIT,
            AUDIENCE_VIEW,
            DISTRIBUTIONS_VIEW,
            CHANNELS_VIEW,
            MERCHANTS_VIEW,
            REDEMPTIONS_VIEW,
        }
    ),
    PARTNER_USER: frozenset(
        {
            PORTAL_VIEW,
            JOBS_VIEW,
            CAMPAIGNS_VIEW,
            AUDIENCE_VIEW,
            AUDIENCE_MANAGE,
            DISTRIBUTIONS_VIEW,
            DISTRIBUTIONS_MANAGE,
            MERCHANTS_VIEW,
            MERCHANTS_MANAGE,
            CHANNELS_VIEW,
            CHANNELS_MANAGE,
            REDEMPTIONS_VIEW,
        }
    ),
    MERCHANT: frozenset({REDEEM}),
}


def capabilities_for(role: str | None) -> frozenset[str]:
    return CAPABILITIES.get(role or "", frozenset())
