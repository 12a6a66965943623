"""RQ entry points of the brand console. They take ids only and are safe to run twice."""

from __future__ import annotations

from apps.brand import allocations


def allocation_generate(allocation_id: int, *, job_run_id: str | None = None) -> None:
    """Generate an allocation's codes (runs in the partner's schema)."""
    allocations.allocation_generate(allocation_id, job_run_id=job_run_id)
