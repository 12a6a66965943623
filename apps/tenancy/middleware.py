"""Subfolder tenant routing: /p/<slug>/... runs in that partner's schema, everything else in
public. Must be the first middleware.

It only routes: who may see the partner (and what a missing partner answers) is decided once the
user is known, by apps.accounts.middleware.RoleMiddleware, so that "no such partner" and "not
yours" cannot be told apart. A missing partner leaves the public URLs in place, which hold no
partner page: without that gate it is still a 404."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import set_urlconf

from apps.core.db import tenant_connection
from apps.tenancy.models import Partner
from apps.tenancy.urlconf import partner_urlconf

PREFIX_RE = re.compile(rf"^/{re.escape(settings.PARTNER_URL_PREFIX)}/([^/]+)(?:/|$)")


class PartnerRoutingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tenant_connection.set_schema_to_public()
        request.tenant = None  # type: ignore[attr-defined]
        match = PREFIX_RE.match(request.path_info)
        # The slug of a partner path, whether or not such a partner exists.
        request.partner_slug = match.group(1) if match else None  # type: ignore[attr-defined]
        partner = Partner.objects.ready().filter(slug=match.group(1)).first() if match else None
        if partner is not None:
            partner.domain_subfolder = partner.slug
            request.tenant = partner  # type: ignore[attr-defined]
            tenant_connection.set_tenant(partner)
            # A module works as a urlconf too; the stubs only allow a dotted path (str).
            request.urlconf = partner_urlconf(partner.slug)  # type: ignore[assignment]
            set_urlconf(request.urlconf)  # type: ignore[attr-defined]
        try:
            return self.get_response(request)
        finally:
            # Leave the connection as we found it for whatever runs next on this thread.
            tenant_connection.set_schema_to_public()
