"""Who performs a service call: the signed-in User, or None for the system (jobs, commands,
the demo seed). Services record it (`created_by`) and name it in activity logs.

Not to be confused with `apps.redemptions.services.Actor`, the merchant, key and address a
redemption is made through.
"""

from __future__ import annotations

from typing import TypeAlias

from django.http import HttpRequest

from apps.accounts.models import User

Actor: TypeAlias = User | None


def request_actor(request: HttpRequest) -> Actor:
    """The request's user as an Actor: None when nobody is signed in (views behind a
    capability always have a User)."""
    user = request.user
    return user if user.is_authenticated else None
