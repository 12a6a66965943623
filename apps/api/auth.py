"""Who is calling the API: `X-App-Id` / `X-App-Token` → ApiKey → partner schema and Actor.

`api_endpoint(capability, methods)` wraps every /v1 view:

1. authenticate the key (public schema; 401 with a sentence naming the headers otherwise);
2. refuse partner-only endpoints to merchant keys (403), methods the endpoint does not have
   (405) and oversized bodies (413);
3. switch the connection to the key's partner schema for the rest of the request and back to
   public afterwards. PartnerRoutingMiddleware only routes /p/ paths and sets the schema to
   public before and after every request, so the two never fight over the connection;
4. build the `Actor` the redemption services need (merchant keys: the Merchant row, which
   must exist and be active).

The capability name is set on the view for the permission matrix (tests/test_permission_matrix.py),
which checks API routes with keys instead of sessions."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any

from django.db import OperationalError, connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from apps.accounts.apikeys import api_key_touch, token_matches
from apps.accounts.models import ApiKey, User
from apps.accounts.permissions import API_MERCHANT, API_PARTNER
from apps.api.errors import ApiError
from apps.core.db import tenant_connection
from apps.core.errors import new_request_id
from apps.core.sql import SEARCH_PATH_COLUMN, prepared_before_search_path, search_path_checked
from apps.core.timeouts import RETRY_AFTER_SECONDS, is_statement_timeout
from apps.redemptions.models import Channel, Merchant
from apps.redemptions.services import Actor
from apps.tenancy.models import Partner

# Bodies larger than this are refused before being read: a redeem request is a few hundred
# bytes, so 64 KB leaves room for metadata without letting anyone make us parse megabytes.
MAX_BODY_BYTES = 64 * 1024

AUTH_HELP = (
    "Send your API key in the X-App-Id and X-App-Token headers (the partner portal shows "
    "the token once, when the key is issued)."
)

View = Callable[..., HttpResponse]


def client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is set by the caller and would let a guesser pick a
    # fresh address for every try. Behind a proxy, the proxy must set REMOTE_ADDR.
    return request.META.get("REMOTE_ADDR") or None


# app_id → (when read, partner). A key never moves to another partner, so the partner (and
# with it the schema to switch to) can be remembered; the key itself (revocation, token) is
# read on every request. Bounded: cleared when it grows past _PARTNER_CACHE_MAX entries.
_PARTNERS: dict[str, tuple[float, Partner]] = {}
_PARTNER_CACHE_SECONDS = 60.0
_PARTNER_CACHE_MAX = 10_000

_KEY_FIELDS = ApiKey._meta.concrete_fields
_MERCHANT_FIELDS = Merchant._meta.concrete_fields
_USER_FIELDS = User._meta.concrete_fields
# One query for the key, its merchant (in the partner schema) and the merchant's login: the
# hot path of every API call. Every table is named with its schema, so it runs before the
# search_path is set, and it reads the search_path so the SET can be skipped when the
# connection is already in this partner's schema (apps.core.sql.search_path_checked).
_KEY_SQL = """
    SELECT {key}, {merchant}, {user}, {search_path}
    FROM public.accounts_apikey k
    LEFT JOIN {{schema}}.redemptions_merchant m ON m.id = k.merchant_id
    LEFT JOIN public.accounts_user u ON u.id = m.user_id
    WHERE k.app_id = %s
""".format(  # noqa: S608 - column names from the models, no input
    key=", ".join(f"k.{f.column}" for f in _KEY_FIELDS),
    merchant=", ".join(f"m.{f.column}" for f in _MERCHANT_FIELDS),
    user=", ".join(f"u.{f.column}" for f in _USER_FIELDS),
    search_path=SEARCH_PATH_COLUMN,
)


@lru_cache(maxsize=1024)
def _key_sql(schema_name: str) -> str:
    return _KEY_SQL.format(schema=connection.ops.quote_name(schema_name))


def _unknown_key() -> ApiError:
    return ApiError(
        401,
        "unauthorized",
        "This API key is unknown, revoked, or its token does not match. "
        "Check both headers, or ask the partner for a new key. " + AUTH_HELP,
    )


def _partner_for(app_id: str) -> Partner | None:
    hit = _PARTNERS.get(app_id)
    if hit is not None and time.monotonic() - hit[0] < _PARTNER_CACHE_SECONDS:
        return hit[1]
    tenant_connection.set_schema_to_public()
    partner = Partner.objects.filter(
        pk__in=ApiKey.objects.filter(app_id=app_id).values("partner_id")
    ).first()
    if partner is not None:
        if len(_PARTNERS) >= _PARTNER_CACHE_MAX:
            _PARTNERS.clear()
        _PARTNERS[app_id] = (time.monotonic(), partner)
    return partner


def _instance(model: Any, fields: Any, values: Any) -> Any:
    return model.from_db("default", [f.attname for f in fields], values)


def _authenticate(request: HttpRequest, *, retried: bool = False) -> tuple[ApiKey, Merchant | None]:
    """The key (and its merchant) after switching the connection to the key's partner.
    Leaves the connection in that schema; the caller switches back."""
    app_id = request.headers.get("X-App-Id", "")
    token = request.headers.get("X-App-Token", "")
    if not app_id or not token:
        raise ApiError(401, "unauthorized", f"No API key was sent. {AUTH_HELP}")
    if len(app_id) > 40 or len(token) > 200:
        raise _unknown_key()
    partner = _partner_for(app_id)
    if partner is None:
        raise _unknown_key()
    if partner.status != Partner.Status.READY:
        raise ApiError(401, "unauthorized", "This key's partner account is not ready yet.")
    tenant_connection.set_tenant(partner)
    with prepared_before_search_path(_key_sql(partner.schema_name), [app_id]) as cursor:
        row = cursor.fetchone()
    if row is None:
        _PARTNERS.pop(app_id, None)
        raise _unknown_key()
    search_path_checked(row[-1])
    row = row[:-1]
    n_key, n_merchant = len(_KEY_FIELDS), len(_MERCHANT_FIELDS)
    key = _instance(ApiKey, _KEY_FIELDS, row[:n_key])
    if key.partner_id != partner.pk:  # the remembered partner row was replaced: read again
        _PARTNERS.pop(app_id, None)
        if retried:
            raise _unknown_key()
        return _authenticate(request, retried=True)
    if key.revoked_at is not None or not token_matches(key, token):
        raise _unknown_key()
    key.partner = partner
    merchant = None
    merchant_row = row[n_key : n_key + n_merchant]
    if merchant_row[0] is not None:
        merchant = _instance(Merchant, _MERCHANT_FIELDS, merchant_row)
        user_row = row[n_key + n_merchant :]
        merchant.user = _instance(User, _USER_FIELDS, user_row) if user_row[0] else None
    return key, merchant


def _actor(request: HttpRequest, key: ApiKey, merchant: Merchant | None) -> Actor:
    if key.kind == ApiKey.Kind.MERCHANT:
        if merchant is None:
            raise ApiError(
                401,
                "unauthorized",
                "The merchant this key belongs to no longer exists; ask the partner for a new key.",
            )
        if not merchant.is_active:
            raise ApiError(
                403,
                "merchant_not_allowed",
                "This merchant account is disabled; ask the partner to enable it.",
            )
    else:
        merchant = None
    return Actor(channel=Channel.API, merchant=merchant, api_key_id=key.pk, ip=client_ip(request))


def _check_body_size(request: HttpRequest) -> None:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        raise ApiError(
            413,
            "payload_too_large",
            f"The request body is {length:,} bytes; at most {MAX_BODY_BYTES:,} are accepted.",
        )


def api_endpoint(capability: str, methods: tuple[str, ...]) -> Callable[[View], View]:
    """Declare and enforce an API view's capability (API_MERCHANT: any key of the partner;
    API_PARTNER: partner keys only) and its HTTP methods."""
    if capability not in (API_MERCHANT, API_PARTNER):
        raise ValueError(f"unknown API capability {capability!r}")

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            request.request_id = new_request_id()  # type: ignore[attr-defined]
            try:
                try:
                    key, merchant = _authenticate(request)
                    if capability == API_PARTNER and key.kind != ApiKey.Kind.PARTNER:
                        raise ApiError(
                            403,
                            "forbidden",
                            "This endpoint needs a partner key; merchant keys may validate, "
                            "redeem, roll back and read their own redemptions and codes.",
                        )
                    if request.method not in methods:
                        raise ApiError(
                            405,
                            "method_not_allowed",
                            f"{request.method} is not supported here; use {' or '.join(methods)}.",
                            headers={"Allow": ", ".join(methods)},
                        )
                    _check_body_size(request)
                    api_key_touch(key)
                    request.tenant = key.partner  # type: ignore[attr-defined]
                    request.api_key = key  # type: ignore[attr-defined]
                    request.actor = _actor(request, key, merchant)  # type: ignore[attr-defined]
                    response = view(request, *args, **kwargs)
                finally:
                    tenant_connection.set_schema_to_public()
            except ApiError as exc:
                response = exc.response(request)
            except OperationalError as exc:
                if not is_statement_timeout(exc):
                    raise
                response = ApiError(
                    503,
                    "timeout",
                    "The request took too long and was stopped. Retry it in a while; a list "
                    "can be asked for in smaller pages.",
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                ).response(request)
            response["X-Request-Id"] = request.request_id  # type: ignore[attr-defined]
            return response

        wrapped.capability = capability  # type: ignore[attr-defined]
        return csrf_exempt(wrapped)

    return decorator
