"""Rotating the key that encrypts provider credentials."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django_tenants.utils import schema_context

from apps.messaging.crypto import decrypt_secrets, encrypt_secrets
from apps.messaging.models import ChannelAccount


def test_rotation_re_encrypts_with_the_new_key(partner_a, settings):
    # given an account encrypted with the old key
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CHANNEL_SECRET_KEYS = [old]
    with schema_context(partner_a.schema_name):
        ChannelAccount.objects.create(
            channel="sms", secrets_encrypted=encrypt_secrets({"auth_token": "t0ken-abc"})
        )
    # when the new key is put first and the command runs
    settings.CHANNEL_SECRET_KEYS = [new, old]
    call_command("rotate_channel_secrets")
    # then the new key alone opens it
    settings.CHANNEL_SECRET_KEYS = [new]
    with schema_context(partner_a.schema_name):
        token = ChannelAccount.objects.get().secrets_encrypted
        assert decrypt_secrets(token) == {"auth_token": "t0ken-abc"}


def test_rotation_names_accounts_no_key_opens(partner_a, settings):
    # given an account encrypted with a key that is no longer configured
    settings.CHANNEL_SECRET_KEYS = [Fernet.generate_key().decode()]
    with schema_context(partner_a.schema_name):
        ChannelAccount.objects.create(
            channel="email", secrets_encrypted=encrypt_secrets({"password": "pw-12345678"})
        )
    settings.CHANNEL_SECRET_KEYS = [Fernet.generate_key().decode()]
    # when / then
    with pytest.raises(CommandError, match="alpha/email"):
        call_command("rotate_channel_secrets")
