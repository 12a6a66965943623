"""`manage.py create_partner --name "Acme Retail" --slug acme-retail`: the same as the brand
console's form, for operators and scripts. Builds the schema in this process."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.tenancy.models import Partner
from apps.tenancy.services import partner_build_schema_now, partner_create


class Command(BaseCommand):
    help = "Create a partner and its schema."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--slug", required=True)

    def handle(self, *args: Any, name: str, slug: str, **options: Any) -> None:
        try:
            partner, _job = partner_create(name=name, slug=slug)
        except ValidationError as exc:
            problems = "; ".join(
                f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items()
            )
            raise CommandError(problems) from exc
        # The enqueued job would do the same; building here makes the command synchronous and
        # the job a no-op when it runs (create_schema checks for an existing schema).
        partner_build_schema_now(Partner.objects.get(pk=partner.pk))
        self.stdout.write(
            self.style.SUCCESS(
                f"Partner {partner.name} ready at {partner.url_prefix} "
                f"(schema {partner.schema_name})"
            )
        )
