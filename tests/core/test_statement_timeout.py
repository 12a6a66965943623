"""Time bounds: web requests and API calls run under a short PostgreSQL statement timeout, jobs
and commands under a longer one, and a statement cut by it answers a clear 503 (the portal's
page, the API's error body), not a hang or a bare 500."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection, transaction

from apps.accounts.apikeys import api_key_issue

ROOT = Path(__file__).resolve().parents[2]
SHOW = (
    "from django.db import connection; c = connection.cursor(); "
    "c.execute('SHOW statement_timeout'); print(c.fetchone()[0])"
)


def _statement_timeout_in(code: str) -> str:
    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if k != "PROCESS_KIND"}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=f"postgres://{db['USER'] or 'postgres'}@{db['HOST']}:{db['PORT']}"
        f"/{db['NAME']}",
        DB_STATEMENT_TIMEOUT_MS="1234",
        DB_JOB_STATEMENT_TIMEOUT_MS="5678",
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.django_db
def test_the_web_process_gets_the_web_bound_and_other_processes_the_job_bound():
    # when a process starts as gunicorn does (config.wsgi), and as a job or command does
    web = _statement_timeout_in(f"import config.wsgi; {SHOW}")
    job = _statement_timeout_in(f"import django; django.setup(); {SHOW}")
    # then
    assert (web, job) == ("1234ms", "5678ms")


def _slow(*args, **kwargs):
    """A statement that outlasts the bound, run as services run theirs (in a transaction)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(5)")


@pytest.fixture
def bound(db):
    """A 200 ms bound on this connection (the test client's requests use it too)."""
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 200")
    yield
    with connection.cursor() as cursor:
        cursor.execute("RESET statement_timeout")


def test_a_slow_portal_page_answers_the_503_page(client, partner_user_a, bound, monkeypatch):
    # given a page whose query outlasts the bound
    monkeypatch.setattr("apps.campaigns.views.campaign_list", _slow)
    client.force_login(partner_user_a)
    started = time.monotonic()
    # when
    response = client.get("/p/alpha/campaigns/")
    # then it is stopped and says so
    assert time.monotonic() - started < 3
    assert response.status_code == 503
    assert response["Retry-After"]
    assert "This took too long" in response.content.decode()


def test_a_slow_api_call_answers_a_503_error_body(client, partner_a, bound, monkeypatch):
    # given
    key = api_key_issue(partner=partner_a, merchant_id=None, name="test")
    monkeypatch.setattr("apps.api.views._visible_vouchers", _slow)
    started = time.monotonic()
    # when
    response = client.get(
        "/v1/vouchers/ANY-CODE",
        HTTP_X_APP_ID=key.key.app_id,
        HTTP_X_APP_TOKEN=key.token,
    )
    # then
    assert time.monotonic() - started < 3
    assert response.status_code == 503
    assert response["Retry-After"]
    body = json.loads(response.content)
    assert (body["code"], body["key"]) == (503, "timeout")
    assert "took too long" in body["details"]
