"""QR code and barcode images of a code, for the `{{ voucher.qr_url }}` and
`{{ voucher.barcode_url }}` merge tags.

The URL carries a signed token of the code, not the code itself, so nobody can ask for the image
of a code they guess, and the signature's salt includes the partner's schema so a token made for
one partner is refused under another's URL. Recipients open these from an email client, without
a session: the views declare WEBHOOK (the token is the credential).
"""

from __future__ import annotations

import io
from functools import lru_cache
from typing import TYPE_CHECKING

import barcode
import segno
from barcode.errors import BarcodeError
from barcode.writer import ImageWriter
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from apps.campaigns.models import Voucher
from apps.core.permissions import WEBHOOK, capability
from apps.messaging.links import partner_url
from apps.tenancy.current import current_partner

if TYPE_CHECKING:
    from apps.tenancy.models import Partner

SALT = "apps.messaging.images"
# The code shown in previews (templating.sample_context). It is served without a lookup: it is
# not a real code, and its token is still signed like any other.
SAMPLE_CODE = "SAMPLE-CODE-1234"
# Images of a code never change; email clients and proxies may keep them for a day.
CACHE_CONTROL = "public, max-age=86400"


def _signer(schema_name: str) -> signing.Signer:
    return signing.Signer(salt=f"{SALT}:{schema_name}")


def code_token(code: str, *, schema_name: str) -> str:
    """URL-safe signed token of `code`, valid only under the partner owning `schema_name`."""
    return _signer(schema_name).sign_object(code)


def code_from_token(token: str, *, schema_name: str) -> str | None:
    """The code in `token`, or None when the token is forged or made for another partner."""
    try:
        code = _signer(schema_name).unsign_object(token)
    except (signing.BadSignature, ValueError):
        return None
    return code if isinstance(code, str) else None


def voucher_image_urls(code: str, *, partner: Partner | None = None) -> dict[str, str]:
    """Absolute URLs of the QR code and barcode images of `code` (the current partner's when
    `partner` is not given)."""
    partner = partner or current_partner()
    token = code_token(code, schema_name=partner.schema_name)
    return {
        "qr_url": partner_url("hooks:code_qr", partner=partner, token=token),
        "barcode_url": partner_url("hooks:code_barcode", partner=partner, token=token),
    }


@lru_cache(maxsize=512)
def qr_png(code: str) -> bytes:
    buffer = io.BytesIO()
    # Medium error correction survives a smudged phone screen; never a Micro QR (few readers).
    segno.make(code, error="m", micro=False).save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()


@lru_cache(maxsize=512)
def barcode_png(code: str) -> bytes:
    """Code 128 of `code`; raises BarcodeError for characters Code 128 cannot carry."""
    buffer = io.BytesIO()
    barcode.get("code128", code, writer=ImageWriter()).write(
        buffer, options={"module_width": 0.3, "module_height": 15.0, "quiet_zone": 6.5}
    )
    return buffer.getvalue()


def _code(request: HttpRequest, token: str) -> str:
    code = code_from_token(token, schema_name=request.tenant.schema_name)  # type: ignore[attr-defined]
    if code is None:
        raise Http404("No such image.")
    if code != SAMPLE_CODE and not Voucher.objects.filter(code=code).exists():
        raise Http404("No such image.")
    return code


def _png(data: bytes) -> HttpResponse:
    response = HttpResponse(data, content_type="image/png")
    response["Cache-Control"] = CACHE_CONTROL
    return response


@capability(WEBHOOK)
@require_safe
def code_qr_view(request: HttpRequest, token: str) -> HttpResponse:
    return _png(qr_png(_code(request, token)))


@capability(WEBHOOK)
@require_safe
def code_barcode_view(request: HttpRequest, token: str) -> HttpResponse:
    code = _code(request, token)
    try:
        return _png(barcode_png(code))
    except BarcodeError as error:
        # Codes come from configurable charsets; one outside ASCII has no Code 128 form.
        raise Http404("This code cannot be shown as a barcode.") from error
