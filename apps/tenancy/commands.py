"""A base for management commands that do one thing in every ready partner's schema (or in
one, `--partner slug`), inline or as one RQ job per partner (`--enqueue`): periodic work for
cron or any scheduler."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from apps.core.jobs import enqueue
from apps.tenancy.models import Partner


class PerPartnerCommand(BaseCommand):
    # Dotted path of the job `--enqueue` queues in each partner's schema.
    job = ""

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--partner", help="slug of one partner")
        parser.add_argument(
            "--enqueue", action="store_true", help="queue one job per partner instead"
        )

    def run_in_partner(self) -> str:  # pragma: no cover - abstract
        """Do the work in the current partner schema; return a one-line summary."""
        raise NotImplementedError

    def handle(self, *args: Any, **options: Any) -> None:

        partners = Partner.objects.ready().order_by("slug")
        if options["partner"]:
            partners = partners.filter(slug=options["partner"])
            if not partners.exists():
                raise CommandError(f"No ready partner with the slug “{options['partner']}”.")
        for partner in partners:
            with schema_context(partner.schema_name):
                if options["enqueue"]:
                    enqueue(self.job)
                    self.stdout.write(f"{partner.slug}: queued")
                    continue
                summary = self.run_in_partner()
            self.stdout.write(f"{partner.slug}: {summary}")
