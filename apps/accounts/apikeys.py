"""API keys: issue (the token is returned once), revoke, and authenticate a request.

The token is 32 random bytes; only its SHA-256 is stored. Authentication is one indexed
lookup by `app_id` and a constant-time comparison of hashes, never a scan over keys.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import ApiKey, User
from apps.tenancy.models import Partner


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    token: str  # shown once, never stored


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def api_key_issue(
    *,
    partner: Partner,
    merchant_id: int | None = None,
    name: str = "",
    actor: User | None = None,
) -> IssuedKey:
    """A new key for the partner, or for one of its merchants when `merchant_id` is given."""
    token = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        partner=partner,
        kind=ApiKey.Kind.MERCHANT if merchant_id else ApiKey.Kind.PARTNER,
        merchant_id=merchant_id,
        name=name[:120],
        app_id=f"{partner.slug[:12]}-{secrets.token_hex(8)}",
        token_prefix=token[:6],
        token_hash=_hash(token),
        created_by=actor,
    )
    return IssuedKey(key=key, token=token)


def api_key_revoke(*, key: ApiKey) -> None:
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_key_authenticate(app_id: str, token: str) -> ApiKey | None:
    """The active key matching both headers, or None. Compares in constant time."""
    if not app_id or not token or len(app_id) > 40 or len(token) > 200:
        return None
    key = ApiKey.objects.select_related("partner").filter(app_id=app_id).first()
    if key is None or key.revoked_at is not None or not token_matches(key, token):
        return None
    return key


def token_matches(key: ApiKey, token: str) -> bool:
    """Constant-time comparison of the token's hash with the stored one."""
    return hmac.compare_digest(key.token_hash, _hash(token))


def api_key_touch(key: ApiKey) -> None:
    """Record use, at most once a minute per key (a write per request would be a hot row)."""
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
