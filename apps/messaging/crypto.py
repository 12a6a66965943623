"""Provider credentials at rest: a Fernet token (AES-128-CBC + HMAC-SHA256) of a JSON object.

MultiFernet decrypts with any configured key and encrypts with the first, so keys rotate by
prepending a new one and re-saving accounts (`manage.py rotate_channel_secrets`)."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretsUnreadable(Exception):
    """The stored credentials cannot be decrypted with any configured key."""


@cache
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if not keys:
        # Development and tests only: production settings refuse to start without a key.
        derived = hashlib.sha256(b"channel-secrets:" + secret_key.encode()).digest()
        keys = (base64.urlsafe_b64encode(derived).decode(),)
    return MultiFernet([Fernet(key.encode()) for key in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.CHANNEL_SECRET_KEYS), settings.SECRET_KEY)


def encrypt_secrets(values: dict[str, str]) -> str:
    if not values:
        return ""
    return fernet().encrypt(json.dumps(values, sort_keys=True).encode()).decode()


def decrypt_secrets(token: str) -> dict[str, str]:
    if not token:
        return {}
    try:
        return json.loads(fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        raise SecretsUnreadable(
            "The saved credentials cannot be decrypted with the configured CHANNEL_SECRET_KEYS; "
            "enter them again."
        ) from exc


def rotate(token: str) -> str:
    """Re-encrypt a token with the first key (after a new key was put first)."""
    return fernet().rotate(token.encode()).decode() if token else ""


def hint(value: str) -> str:
    """What the page may show of a secret: its last four characters."""
    return f"…{value[-4:]}" if len(value) >= 8 else "…"
