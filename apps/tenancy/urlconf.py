"""Per-partner URL configuration for subfolder routing.

A request under /p/<slug>/ resolves against a module holding the public patterns plus the
partner patterns mounted at p/<slug>/, so `{% url %}` inside the portal yields partner URLs
without passing the slug around, and public URLs (login, logout) still reverse. The modules are
derived from code and the slug only, so caching them per process is safe.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import import_module
from types import ModuleType
from typing import Any

from django.conf import settings
from django.urls import include, path
from django.urls import reverse as django_reverse


@lru_cache(maxsize=4096)
def partner_urlconf(slug: str) -> ModuleType:
    public = import_module(settings.ROOT_URLCONF)
    partner = import_module(settings.PARTNER_URLCONF)
    module = ModuleType(f"{settings.PARTNER_URLCONF}_{slug}")
    module.urlpatterns = [  # type: ignore[attr-defined]
        path(f"{settings.PARTNER_URL_PREFIX}/{slug}/", include(partner.urlpatterns)),
        *public.urlpatterns,
    ]
    for handler in ("handler403", "handler404", "handler500"):
        if hasattr(public, handler):
            setattr(module, handler, getattr(public, handler))
    return module


def partner_reverse(slug: str, viewname: str, *args: Any, **kwargs: Any) -> str:
    """Reverse a partner-portal URL for `slug` from anywhere (brand console, jobs, emails)."""
    return django_reverse(
        viewname,
        # Django takes the urlconf module itself; the stubs only allow a dotted path (str).
        urlconf=partner_urlconf(slug),  # type: ignore[arg-type]
        args=args or None,
        kwargs=kwargs or None,
    )
