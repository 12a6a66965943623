"""`manage.py create_api_key --partner <slug> [--merchant <name>] [--name <label>]`: issue a
partner key, or a key for one of the partner's merchants, for operators and scripts. Prints
the two headers to send; the token is shown here once and stored only as a hash."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import schema_context

from apps.accounts.apikeys import api_key_issue
from apps.redemptions.models import Merchant
from apps.tenancy.models import Partner


class Command(BaseCommand):
    help = "Issue an API key for a partner, or for one of its merchants, and print it once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--partner", required=True, help="The partner's slug.")
        parser.add_argument(
            "--merchant", default="", help="A merchant's name (exact, case-insensitive)."
        )
        parser.add_argument("--name", default="", help="A label for the key, e.g. 'Till 2'.")

    def handle(self, *args: Any, partner: str, merchant: str, name: str, **options: Any) -> None:
        found = Partner.objects.real().filter(slug=partner).first()
        if found is None:
            raise CommandError(
                f"No partner with the slug '{partner}'. Check the slug in the brand console."
            )
        if found.status != Partner.Status.READY:
            raise CommandError(f"Partner '{partner}' is not ready yet (status: {found.status}).")
        merchant_id = None
        if merchant.strip():
            with schema_context(found.schema_name):
                match = Merchant.objects.filter(name__iexact=merchant.strip()).first()
            if match is None:
                raise CommandError(
                    f"Partner '{partner}' has no merchant named '{merchant}'. "
                    "Create it in the partner portal first, or check the spelling."
                )
            merchant_id = match.pk
        issued = api_key_issue(partner=found, merchant_id=merchant_id, name=name)
        kind = "merchant" if merchant_id else "partner"
        self.stderr.write(
            f"Issued a {kind} key for {found.name}. Copy the token now: it is not shown again."
        )
        self.stdout.write(f"X-App-Id: {issued.key.app_id}")
        self.stdout.write(f"X-App-Token: {issued.token}")
