"""A distribution's audience: the customers it reaches, as SQL the fan-out builds on."""

from __future__ import annotations

from typing import Any

from django.db import connection

from apps.campaigns.models import Voucher
from apps.customers.models import SegmentMembership
from apps.distributions.models import Distribution, DistributionCustomer

Kind = Distribution.Kind
Audience = Distribution.Audience
# The channels a reminder can go through: MailChimp only receives the code in a merge field,
# which a reminder would not change.
REMINDER_CHANNELS = ("email", "sms", "intercom")


def audience_customer_ids_sql(distribution: Distribution) -> tuple[str, dict[str, Any]]:
    """The SELECT of the audience's customer ids (one column, `customer_id`) and its named
    parameters: the segment's members, the chosen customers, or nothing for an event
    audience (an automatic distribution finds its customers in the event log)."""
    if distribution.audience == Audience.SEGMENT and distribution.segment_id:
        table = SegmentMembership._meta.db_table
        return (
            f"SELECT customer_id FROM {table} WHERE segment_id = %(audience_segment_id)s",  # noqa: S608 - model table name
            {"audience_segment_id": distribution.segment_id},
        )
    if distribution.audience == Audience.CUSTOMERS and distribution.kind == Kind.MANUAL:
        table = DistributionCustomer._meta.db_table
        return (
            f"SELECT customer_id FROM {table} "  # noqa: S608 - model table name
            "WHERE distribution_id = %(audience_distribution_id)s",
            {"audience_distribution_id": distribution.pk},
        )
    return "SELECT NULL::bigint AS customer_id WHERE false", {}


def audience_size(distribution: Distribution) -> int:
    """How many customers the audience has now (0 for an event audience)."""
    sql, params = audience_customer_ids_sql(distribution)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({sql}) audience", params)  # noqa: S608
        return cursor.fetchone()[0]


def reminder_channels(distribution: Distribution) -> list[str]:
    """The channels a reminder goes through: the distribution's, less MailChimp."""
    return [c for c in distribution.channels or [] if c in REMINDER_CHANNELS]


def free_codes(distribution: Distribution) -> int:
    """Codes of the distribution's campaign still free to publish."""
    if not distribution.campaign_id:
        return 0
    return Voucher.objects.available().filter(campaign_id=distribution.campaign_id).count()
