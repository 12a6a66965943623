"""Send the distributions' due reminders, for cron or any scheduler:

    */5 * * * *  python manage.py send_reminders                # every ready partner, inline
    python manage.py send_reminders --partner alpha             # one partner
    python manage.py send_reminders --enqueue                   # one RQ job per partner
    python manage.py send_reminders --schedule                  # start the 5-minute tick

Without cron, `--schedule` (run it when a worker started with --with-scheduler comes up) starts
a tick that does the same every five minutes and re-schedules itself
(apps.distributions.pipeline.queue.tick_schedule); a tick already scheduled is kept. Running cron
and the tick together is harmless: each reminder is queued once per code."""

from __future__ import annotations

from typing import Any

from apps.distributions.pipeline.queue import tick_schedule
from apps.distributions.pipeline.reminders import reminders_send
from apps.tenancy.commands import PerPartnerCommand


class Command(PerPartnerCommand):
    help = "Queue the due reminders of every partner's distributions (or of --partner)."
    job = "apps.distributions.jobs.reminders_job"

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--schedule",
            action="store_true",
            help="only make sure the periodic tick (every 5 minutes, needs rqworker "
            "--with-scheduler) is scheduled",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["schedule"]:
            scheduled = tick_schedule()
            self.stdout.write("tick scheduled" if scheduled else "tick already scheduled")
            return
        super().handle(*args, **options)

    def run_in_partner(self) -> str:
        totals = reminders_send()
        return (
            f"{totals['recipients']} reminders queued in {totals['distributions']} "
            f"distributions, {totals['canceled']} canceled (code redeemed)"
        )
