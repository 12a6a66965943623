"""Shared fixtures: two partners (alpha, beta) with real schemas, people in every role, and
helpers to run queued jobs with a real RQ worker on the real Redis."""

from __future__ import annotations

import os

import django_rq
import pytest
from django.conf import settings as django_settings
from django.db import connection
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis.database import DirectoryBasedExampleDatabase
from rq import SimpleWorker

from apps.accounts.models import Membership
from tests.factories import MembershipFactory, UserFactory, ensure_partner

TEST_PARTNERS = {"alpha": "Alpha Retail", "beta": "Beta Travel"}

# Property tests (Hypothesis): a bounded number of examples so `make test` stays quick, and a
# deadline per example that a request to the real database meets with room to spare. The
# examples that failed before are kept under .data/ and tried first on the next run. Function-
# scoped fixtures (a client, a partner's objects) are shared by a test's examples on purpose:
# each example is one more request against the same set-up. HYPOTHESIS_PROFILE=thorough runs
# ten times as many.
_PROFILE = {
    "deadline": 1000,
    "database": DirectoryBasedExampleDatabase(str(django_settings.BASE_DIR / ".data/hypothesis")),
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
hypothesis_settings.register_profile("project", max_examples=150, **_PROFILE)
hypothesis_settings.register_profile("thorough", max_examples=1500, **_PROFILE)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "project"))


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        for slug, name in TEST_PARTNERS.items():
            ensure_partner(slug, name)
    # Jobs left on the test queues by an interrupted run must not leak into this one.
    for name in ("high", "default", "low"):
        django_rq.get_queue(name).empty()


@pytest.fixture(autouse=True)
def _public_schema():
    """Every test starts and ends in the public schema."""
    connection.set_schema_to_public()
    yield
    connection.set_schema_to_public()


@pytest.fixture
def partner_a(db):
    return ensure_partner("alpha", TEST_PARTNERS["alpha"])


@pytest.fixture
def partner_b(db):
    return ensure_partner("beta", TEST_PARTNERS["beta"])


@pytest.fixture
def in_partner(partner_a):
    """Partner alpha, with the connection in its schema (tenant set as django-tenants' own
    middleware sets it) for the whole test: its rows are built and queried without a
    `schema_context` block. Request it last, so fixtures set up before it stay in public.
    A request through the test client, or `run_jobs()`, leaves the connection in public."""
    connection.set_tenant(partner_a)
    yield partner_a
    connection.set_schema_to_public()


@pytest.fixture
def brand_admin(db):
    return UserFactory(email="admin@brand.test", is_brand_admin=True)


@pytest.fixture
def partner_user_a(partner_a):
    return MembershipFactory(partner=partner_a, user__email="staff@alpha.test").user


@pytest.fixture
def merchant_a(partner_a):
    return MembershipFactory(
        partner=partner_a, role=Membership.Role.MERCHANT, user__email="shop@alpha.test"
    ).user


@pytest.fixture
def partner_user_b(partner_b):
    return MembershipFactory(partner=partner_b, user__email="staff@beta.test").user


@pytest.fixture
def merchant_b(partner_b):
    return MembershipFactory(
        partner=partner_b, role=Membership.Role.MERCHANT, user__email="shop@beta.test"
    ).user


class BurstWorker(SimpleWorker):
    """A real RQ worker without its command channel. RQ listens for commands (stop, kill) on
    a pub/sub thread that polls every 60 s, and stopping the worker joins that thread: now
    and then a burst run sat out the whole poll, 60 s per test. A burst in a test takes no
    commands."""

    def subscribe(self) -> None:
        pass


@pytest.fixture
def run_jobs():
    """Run every queued job now, in this process, with a real RQ worker (burst mode)."""

    def run(*queues: str) -> None:
        names = queues or ("high", "default", "low")
        worker = BurstWorker(
            [django_rq.get_queue(n) for n in names], connection=django_rq.get_connection("default")
        )
        worker.work(burst=True)
        connection.set_schema_to_public()

    return run


def chromium_path() -> str | None:
    path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    return path if os.path.exists(path) else None


def committed_db():
    """Marker for tests whose writes must really commit (live server, threads, processes).
    Naming every app makes Django's flush after the test TRUNCATE ... CASCADE, which also
    empties partner-schema rows that point at public users."""
    from django.conf import settings

    return pytest.mark.django_db(transaction=True, available_apps=list(settings.INSTALLED_APPS))


@pytest.fixture
def empty_partner_schemas(django_db_blocker):
    """For tests that commit: the flush after them empties only public tables, so empty the
    partner schemas too and later tests start clean."""
    yield
    with django_db_blocker.unblock():
        truncate_partner_schemas()


def truncate_partner_schemas() -> None:
    """Empty every table of the test partners' schemas (their migrations excepted)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) "
            "FROM information_schema.tables WHERE table_schema IN ('p_alpha', 'p_beta') "
            "AND table_type = 'BASE TABLE' AND table_name <> 'django_migrations'"
        )
        tables = [row[0] for row in cursor.fetchall()]
        if tables:
            cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
