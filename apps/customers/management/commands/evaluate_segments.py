"""Periodic re-evaluation of active segments, for cron or any scheduler:

    */15 * * * *  python manage.py evaluate_segments            # every ready partner, inline
    python manage.py evaluate_segments --partner alpha          # one partner
    python manage.py evaluate_segments --enqueue                # one RQ job per partner

Changes between runs are picked up sooner by the debounced trigger
(apps.customers.segments.triggers.segments_schedule_evaluation)."""

from __future__ import annotations

from apps.customers.segments.services import segments_evaluate_all
from apps.tenancy.commands import PerPartnerCommand


class Command(PerPartnerCommand):
    help = "Re-evaluate the active segments of every partner (or of --partner)."
    job = "apps.customers.segments.services.segments_evaluate_all"

    def run_in_partner(self) -> str:
        totals = segments_evaluate_all()
        return (
            f"{totals['segments']} segments, {totals['entered']} entered, "
            f"{totals['left']} left, {totals['failed']} failed"
        )
