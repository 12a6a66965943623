"""Periodic re-evaluation of active segments, for cron or any scheduler:

    */15 * * * *  python manage.py evaluate_segments            # every ready partner, inline
    python manage.py evaluate_segments --partner alpha          # one partner
    python manage.py evaluate_segments --enqueue                # one RQ job per partner

Changes between runs are picked up sooner by the debounced trigger
(apps.customers.segment_jobs.segments_schedule_evaluation)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from apps.tenancy.models import Partner


class Command(BaseCommand):
    help = "Re-evaluate the active segments of every partner (or of --partner)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--partner", help="slug of one partner")
        parser.add_argument(
            "--enqueue", action="store_true", help="queue one job per partner instead"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from apps.core.jobs import enqueue
        from apps.customers.segment_jobs import segments_evaluate_all

        partners = Partner.objects.ready().order_by("slug")
        if options["partner"]:
            partners = partners.filter(slug=options["partner"])
            if not partners.exists():
                raise CommandError(f"No ready partner with the slug “{options['partner']}”.")
        for partner in partners:
            with schema_context(partner.schema_name):
                if options["enqueue"]:
                    enqueue("apps.customers.segment_jobs.segments_evaluate_all")
                    self.stdout.write(f"{partner.slug}: queued")
                    continue
                totals = segments_evaluate_all()
            self.stdout.write(
                f"{partner.slug}: {totals['segments']} segments, {totals['entered']} entered, "
                f"{totals['left']} left, {totals['failed']} failed"
            )
