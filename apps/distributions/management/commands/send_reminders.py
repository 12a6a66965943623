"""Send the distributions' due reminders, for cron or any scheduler:

    */5 * * * *  python manage.py send_reminders                # every ready partner, inline
    python manage.py send_reminders --partner alpha             # one partner
    python manage.py send_reminders --enqueue                   # one RQ job per partner
    python manage.py send_reminders --schedule                  # start the 5-minute tick

Without cron, `--schedule` (run it when a worker started with --with-scheduler comes up) starts
a tick that does the same every five minutes and re-schedules itself
(apps.distributions.jobs.reminders_schedule); a tick already scheduled is kept. Running cron
and the tick together is harmless: each reminder is queued once per code."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from apps.tenancy.models import Partner


class Command(BaseCommand):
    help = "Queue the due reminders of every partner's distributions (or of --partner)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--partner", help="slug of one partner")
        parser.add_argument(
            "--enqueue", action="store_true", help="queue one job per partner instead"
        )
        parser.add_argument(
            "--schedule",
            action="store_true",
            help="only make sure the periodic tick (every 5 minutes, needs rqworker "
            "--with-scheduler) is scheduled",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from apps.core.jobs import enqueue
        from apps.distributions.jobs import reminders_schedule
        from apps.distributions.reminders import reminders_send

        if options["schedule"]:
            scheduled = reminders_schedule()
            self.stdout.write("tick scheduled" if scheduled else "tick already scheduled")
            return

        partners = Partner.objects.ready().order_by("slug")
        if options["partner"]:
            partners = partners.filter(slug=options["partner"])
            if not partners.exists():
                raise CommandError(f"No ready partner with the slug “{options['partner']}”.")
        for partner in partners:
            with schema_context(partner.schema_name):
                if options["enqueue"]:
                    enqueue("apps.distributions.jobs.reminders_job")
                    self.stdout.write(f"{partner.slug}: queued")
                    continue
                totals = reminders_send()
            self.stdout.write(
                f"{partner.slug}: {totals['recipients']} reminders queued in "
                f"{totals['distributions']} distributions, {totals['canceled']} canceled "
                "(code redeemed)"
            )
