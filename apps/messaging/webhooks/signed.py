"""The one way a provider's signed webhook is exposed: what the Twilio and Intercom hooks share.

A provider cannot send our CSRF token and is not a signed-in person, so the view is CSRF-exempt
and declares the WEBHOOK capability; what protects it is the provider's signature over the
request, made with this partner's secret. An unsigned or wrongly signed request is answered
403 before the view runs, so it changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponseBase, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.core.permissions import WEBHOOK, View, capability


def signed_webhook(signed: Callable[[HttpRequest], bool], refusal: str) -> Callable[[View], View]:
    """A POST-only webhook view that runs only when `signed(request)` holds; otherwise a 403
    whose body is `refusal` (what the provider's delivery log shows the partner)."""

    def decorator(view: View) -> View:
        @csrf_exempt
        @capability(WEBHOOK)
        @require_POST
        @wraps(view)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not signed(request):
                return HttpResponseForbidden(refusal)
            return view(request, *args, **kwargs)

        return checked

    return decorator
