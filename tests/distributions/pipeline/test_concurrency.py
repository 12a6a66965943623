"""Two fan-outs of the same distribution at once (a duplicated job, two workers): every
recipient still gets exactly one code and one message per channel. Real threads with their own
database connections, so the transactions really commit and really wait on each other."""

from __future__ import annotations

import threading

import pytest
from django.db import connections
from django_tenants.utils import schema_context

from apps.distributions.pipeline.fanout import fanout_run
from apps.distributions.services import distribution_launch
from tests.conftest import committed_db, truncate_partner_schemas
from tests.distributions import pipeline_setup as setup

pytestmark = [pytest.mark.slow, committed_db()]


@pytest.fixture(autouse=True)
def _empty_partner_schemas(django_db_blocker):
    """These tests commit; empty the partner schemas after them so later tests start clean."""
    yield
    setup.clear_pipeline_flags()
    with django_db_blocker.unblock():
        truncate_partner_schemas()


def test_two_concurrent_fanouts_give_every_recipient_one_code_and_one_message_per_channel(
    partner_a, partner_user_a
):
    # given
    with schema_context("p_alpha"):
        people = setup.customers(120)
        d = setup.distribution(segment=setup.static_segment(people), campaign=setup.campaign(150))
        distribution_launch(distribution=d, actor=partner_user_a)
    barrier = threading.Barrier(3)
    results: list[object] = []

    def worker() -> None:
        try:
            with schema_context("p_alpha"):
                barrier.wait()
                results.append(fanout_run(d.pk, batch_size=10))
        except Exception as exc:  # reported in the outcome instead of lost in a thread
            results.append(exc)
        finally:
            connections.close_all()

    # when
    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # then
    with schema_context("p_alpha"):
        d.refresh_from_db()
        got = setup.tally(d)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r.published for r in results) == 120
    assert d.status == "completed"
    assert got["publications"] == 120 and got["max_codes_per_customer"] == 1
    assert got["messages"] == 240 and got["max_messages_per_customer_channel"] == 1
    assert got["waiting"] == 0
