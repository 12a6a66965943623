"""Walks every URL pattern of the project, for the permission-matrix test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver

from apps.core.permissions import view_capability


@dataclass(frozen=True)
class Route:
    name: str  # namespaced URL name, e.g. "brand:partner_detail"
    pattern: str  # the route as written, e.g. "brand/partners/<slug:partner_slug>/"
    kwargs: tuple[str, ...]
    capability: str | None
    partner: bool  # served under /p/<slug>/


def walk(
    patterns: list[Any], *, partner: bool, prefix: str = "", namespace: str = ""
) -> list[Route]:
    routes: list[Route] = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace:
                ns = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            routes += walk(
                entry.url_patterns,
                partner=partner,
                prefix=prefix + str(entry.pattern),
                namespace=ns,
            )
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else (entry.name or "")
            routes.append(
                Route(
                    name=name,
                    pattern=prefix + str(entry.pattern),
                    kwargs=tuple(entry.pattern.regex.groupindex),
                    capability=view_capability(entry.callback),
                    partner=partner,
                )
            )
    return routes


def undeclared(routes: list[Route]) -> list[str]:
    return [f"{r.pattern} ({r.name or 'unnamed'})" for r in routes if not r.capability]
