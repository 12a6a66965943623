"""Template filters for the merchant pages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def minor(value: int | None) -> str:
    """Minor units as a decimal amount: 2599 → "25.99" (empty for None)."""
    if value is None or value == "":
        return ""
    value = int(value)
    sign = "-" if value < 0 else ""
    whole, cents = divmod(abs(value), 100)
    return f"{sign}{whole:,}.{cents:02d}"
