"""`POST /v1/publications`: give a customer one code of a campaign, in Voucherify's shape.
Partner keys only. HTTP only: parse strictly, call apps.customers.publications, answer.

`join_once` is read from the query string (as Voucherify sends it) or the body; `source_id`
makes a retry return the same code. One code per request: `campaign.count` above 1 and
publishing a specific code (`voucher`) are refused with a sentence saying so."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse

from apps.accounts.permissions import API_PARTNER
from apps.api import serializers as s
from apps.api.auth import api_endpoint
from apps.api.errors import ApiError, invalid_payload
from apps.api.idempotency import idempotent
from apps.api.orders import customer_json, customer_ref, domain_error, obj, resolve, text
from apps.api.payloads import read_json, reject_unknown
from apps.campaigns.models import Campaign
from apps.core.errors import DomainError
from apps.core.money import json_kind
from apps.customers.models import Publication
from apps.customers.orders import customer_public_id
from apps.customers.publications import voucher_publish

PUBLICATION_FIELDS = frozenset(
    {"campaign", "customer", "source_id", "join_once", "channel", "metadata", "voucher"}
)
EXAMPLE = '{"campaign": {"name": "Spring sale"}, "customer": {"source_id": "your-customer-id"}}'
TRUE = ("true", "1", "yes")
FALSE = ("false", "0", "no", "")


def _campaign(data: dict[str, Any]) -> Campaign:
    value = data.get("campaign")
    if isinstance(value, dict):
        count = value.get("count", 1)
        if count != 1:
            raise invalid_payload(
                f"“campaign.count” is {str(count)[:20]}: this API publishes one code per "
                "request. Leave “count” out (or send 1) and send one request per code."
            )
        value = value.get("name", value.get("id"))
    if value is None:
        raise invalid_payload(f"“campaign” is missing: name the campaign, e.g. {EXAMPLE}.")
    if not isinstance(value, str) or not value.strip():
        raise invalid_payload(
            f'“campaign” must be the campaign\'s name (or {{"name": ...}}), not {json_kind(value)}.'
        )
    value = value.strip()[:120]
    pk = s.parse_campaign_id(value)
    by_id = Q(pk=pk) if pk is not None else Q(pk__in=[])
    # Names are not unique by constraint; the oldest campaign of that name wins.
    campaign = Campaign.objects.filter(Q(name=value) | by_id).order_by("id").first()
    if campaign is None:
        raise ApiError(
            404,
            "not_found",
            f"No campaign “{value}” exists for this partner. Send the campaign's name as the "
            "portal shows it (or its id, camp_…).",
            extra={"resource_id": value, "resource_type": "campaign"},
        )
    return campaign


def _join_once(request: HttpRequest, data: dict[str, Any]) -> bool:
    raw: Any = request.GET.get("join_once")
    if raw is None:
        raw = data.get("join_once", False)
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in TRUE + FALSE:
        return raw.lower() in TRUE
    raise invalid_payload("“join_once” must be true or false.")


def publication_json(publication: Publication) -> dict[str, Any]:
    customer, voucher, campaign = publication.customer, publication.voucher, publication.campaign
    voucher_body = s.voucher_json(voucher, campaign) | {
        "holder_id": customer_public_id(customer),
        "publish": {"object": "list", "count": 1},
    }
    return {
        "id": publication.public_id,
        "object": "publication",
        "created_at": s.iso(publication.created_at),
        "customer_id": customer_public_id(customer),
        "tracking_id": customer.source_id,
        "metadata": publication.metadata or {},
        "channel": publication.channel,
        "source_id": publication.source_id,
        "result": "SUCCESS",
        "customer": customer_json(customer),
        "voucher": voucher_body,
        "vouchers_id": [voucher_body["id"]],
    }


def _publish(request: HttpRequest) -> HttpResponse:
    data = read_json(request)
    reject_unknown(data, PUBLICATION_FIELDS)
    if data.get("voucher") is not None:
        raise invalid_payload(
            "Publishing a specific code (“voucher”) is not supported: name the campaign and a "
            f"free code is picked, e.g. {EXAMPLE}."
        )
    join_once = _join_once(request, data)
    campaign = _campaign(data)
    ref = customer_ref(data, required=True)
    source_id = text(data, "source_id", "source_id") or None
    channel = text(data, "channel", "channel", limit=30) or "API"
    metadata = obj(data, "metadata", "metadata")
    with transaction.atomic():  # a refused publication leaves no customer created for it
        customer = resolve(ref)  # type: ignore[arg-type]
        try:
            publication = voucher_publish(
                campaign=campaign,
                customer=customer,
                channel=channel,
                source_id=source_id,
                join_once=join_once,
                metadata=metadata,
            )
        except DomainError as exc:
            raise domain_error(exc, "publication") from None
    return JsonResponse(publication_json(publication))


@api_endpoint(API_PARTNER, ("POST",))
def publications(request: HttpRequest) -> HttpResponse:
    """POST /v1/publications: publish one code of a campaign to a customer."""
    return idempotent(request, lambda: _publish(request))
