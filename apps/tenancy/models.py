"""Partners: the tenants. Each partner owns one PostgreSQL schema (ARCHITECTURE section 3)."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models
from django_tenants.models import DomainMixin, TenantMixin

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$")
# Words that would read as part of the product's own URL space.
RESERVED_SLUGS = frozenset(
    {"admin", "api", "brand", "public", "static", "accounts", "healthz", "v1", "www", "jobs", "p"}
)


def validate_partner_slug(value: str) -> None:
    if not SLUG_RE.match(value or ""):
        raise ValidationError(
            "Use 3 to 40 characters: lowercase letters, digits and hyphens, starting with a "
            "letter and not ending with a hyphen (for example: acme-retail).",
            code="invalid_slug",
        )
    if "--" in value:
        raise ValidationError("Use single hyphens only.", code="invalid_slug")
    if value in RESERVED_SLUGS:
        raise ValidationError(f"“{value}” is reserved; choose another slug.", code="reserved_slug")


def schema_name_for(slug: str) -> str:
    return "p_" + slug.replace("-", "_")


class PartnerQuerySet(models.QuerySet["Partner"]):
    def real(self) -> PartnerQuerySet:
        """Partners proper: everything but the public (brand) tenant row."""
        return self.exclude(schema_name="public")

    def ready(self) -> PartnerQuerySet:
        return self.real().filter(status=Partner.Status.READY)


class Partner(TenantMixin):
    """A distribution partner. Its schema holds its campaigns, customers, distributions,
    merchants' redemptions and channel accounts. The row with schema `public` stands for the
    brand itself and is not listed as a partner."""

    class Status(models.TextChoices):
        CREATING = "creating", "Creating"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=40, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CREATING)
    created_at = models.DateTimeField(auto_now_add=True)

    # The schema is created by a background job (apps.tenancy.jobs), not inside the request.
    auto_create_schema = False

    objects = PartnerQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_public(self) -> bool:
        return self.schema_name == "public"

    @property
    def url_prefix(self) -> str:
        return f"/p/{self.slug}/"


class Domain(DomainMixin):
    """django-tenants' domain row. With subfolder routing the "domain" is the partner slug."""
