"""RQ entry points for partners. They take ids only and are safe to run twice."""

from __future__ import annotations

from apps.core.jobs import Progress
from apps.tenancy.models import Partner
from apps.tenancy.services import partner_build_schema_now


def partner_build_schema(partner_id: int, *, job_run_id: str | None = None) -> None:
    progress = Progress(job_run_id)
    partner = Partner.objects.get(pk=partner_id)
    try:
        partner_build_schema_now(partner, progress)
    except Exception:
        Partner.objects.filter(pk=partner_id).update(status=Partner.Status.FAILED)
        raise
    progress.succeed(
        f"Partner {partner.name} is ready.",
        result={"partner_id": partner.pk, "url": partner.url_prefix},
    )
