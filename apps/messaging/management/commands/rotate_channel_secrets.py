"""Re-encrypt every partner's provider credentials with the first key of CHANNEL_SECRET_KEYS
(after a new key was put first), so the old key can then be removed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from apps.messaging.crypto import rotate
from apps.messaging.models import ChannelAccount
from apps.tenancy.models import Partner


class Command(BaseCommand):
    help = "Re-encrypt provider credentials with the first key of CHANNEL_SECRET_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        rotated = 0
        unreadable = []
        for partner in Partner.objects.exclude(schema_name="public").order_by("slug"):
            with schema_context(partner.schema_name):
                for account in ChannelAccount.objects.exclude(secrets_encrypted=""):
                    try:
                        token = rotate(account.secrets_encrypted)
                    except Exception as exc:  # InvalidToken: no configured key opens it
                        unreadable.append(f"{partner.slug}/{account.channel}")
                        self.stderr.write(f"{partner.slug} {account.channel}: {exc!r}")
                        continue
                    ChannelAccount.objects.filter(pk=account.pk).update(secrets_encrypted=token)
                    rotated += 1
        self.stdout.write(f"Re-encrypted {rotated} account(s).")
        if unreadable:
            raise CommandError(
                "These accounts could not be decrypted with any configured key; keep the old "
                f"key or enter their credentials again: {', '.join(unreadable)}"
            )
