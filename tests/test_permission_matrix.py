"""Every URL of the project, for every kind of visitor (ARCHITECTURE section 4):

- anonymous → redirect to the login page (API: 401);
- a user of another partner → 404;
- a role without the capability → 403;
- a role with it → 200 (or the page's own redirect / form answer);

and a refused request changes nothing in the database. A view that declares no capability
fails the first test, so every new page is covered by construction."""

from __future__ import annotations

import uuid
from importlib import import_module

import pytest
from django.conf import settings
from django.db import connection
from django.urls import path
from django.utils.http import urlsafe_base64_encode
from django_tenants.utils import schema_context

from apps.accounts import permissions as perms
from apps.accounts.apikeys import api_key_issue
from apps.accounts.models import ApiKey
from apps.brand.models import Allocation
from apps.core.models import JobRun
from apps.core.permissions import AUTHENTICATED, PUBLIC, WEBHOOK
from apps.customers.models import Customer, CustomerImport, Segment
from apps.distributions.models import Distribution
from apps.messaging.models import ChannelAccount
from apps.messaging.services import Draft, outbox_queue
from apps.redemptions.services import Actor, voucher_redeem
from tests.factories import MerchantFactory, ProgramFactory, VoucherFactory
from tests.permission_matrix import Route, undeclared, walk

PUBLIC_ROUTES = walk(import_module(settings.ROOT_URLCONF).urlpatterns, partner=False)
PARTNER_ROUTES = walk(import_module(settings.PARTNER_URLCONF).urlpatterns, partner=True)
ALL_ROUTES = PUBLIC_ROUTES + PARTNER_ROUTES
# The /v1 API authenticates by key, not session: checked by test_api_permission_matrix.
API_ROUTES = [r for r in PUBLIC_ROUTES if r.pattern.startswith("v1/")]
SESSION_ROUTES = [r for r in ALL_ROUTES if r not in API_ROUTES]

# How to fill each URL argument, given the objects the test made in partner alpha.
SAMPLES = {
    "partner_slug": lambda ctx: "alpha",
    "job_id": lambda ctx: ctx["job_public"] if not ctx["partner"] else ctx["job_alpha"],
    "uidb64": lambda ctx: urlsafe_base64_encode(b"0"),
    "token": lambda ctx: "set-password",
    "program_id": lambda ctx: ctx["program"],
    "allocation_id": lambda ctx: ctx["allocation"],
    "campaign_id": lambda ctx: ctx["campaign"],
    "merchant_id": lambda ctx: ctx["merchant"],
    "redemption_id": lambda ctx: ctx["redemption"],
    "key_id": lambda ctx: ctx["api_key"],
    "code": lambda ctx: ctx["code"],
    "customer_id": lambda ctx: ctx["customer"],
    "segment_id": lambda ctx: ctx["segment"],
    "import_id": lambda ctx: ctx["customer_import"],
    "channel": lambda ctx: "email",
    "message_id": lambda ctx: ctx["message"],
    "distribution_id": lambda ctx: ctx["distribution"],
    "step": lambda ctx: 2,
}

ROLES_PUBLIC = {
    perms.BRAND_ADMIN: "brand_admin",
    perms.PARTNER_USER: "partner_user_a",
    perms.MERCHANT: "merchant_a",
}


def test_every_url_declares_a_capability():
    # then
    assert undeclared(ALL_ROUTES) == []
    assert all(s in SAMPLES for r in ALL_ROUTES for s in r.kwargs), (
        "add a sample value for every URL argument to SAMPLES"
    )


def test_matrix_catches_an_undeclared_view():
    # given a URL whose view forgot its capability
    def naked_view(request):  # pragma: no cover - never called
        return None

    routes = walk([path("leaky/", naked_view, name="leaky")], partner=False)
    # then
    assert undeclared(routes) == ["leaky/ (leaky)"]


def fingerprint() -> tuple[int, ...]:
    """Row counts of every table in public and in partner alpha's schema."""
    counts = []
    for schema in ("public", "p_alpha"):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = %s AND table_type = 'BASE TABLE' ORDER BY table_name",
                [schema],
            )
            for (table,) in cursor.fetchall():
                if table == "django_session":  # signing in writes sessions by design
                    continue
                cursor.execute(f'SELECT count(*) FROM "{schema}"."{table}"')
                counts.append(cursor.fetchone()[0])
    return tuple(counts)


def url_for(route: Route, ctx: dict) -> str:
    ctx = {**ctx, "partner": route.partner}
    url = "/" + route.pattern
    for name in route.kwargs:
        converter_start = url.index("<")
        converter_end = url.index(">", converter_start)
        url = url[:converter_start] + str(SAMPLES[name](ctx)) + url[converter_end + 1 :]
    return ("/p/alpha" + url) if route.partner else url


def allowed(route: Route, role: str | None) -> bool:
    if route.capability in (PUBLIC, AUTHENTICATED, WEBHOOK):
        return True
    if not route.partner and role != perms.BRAND_ADMIN:
        role = None  # partner roles hold only inside their partner's portal
    return route.capability in perms.capabilities_for(role)


@pytest.fixture
def ctx(partner_a, merchant_a):
    """One object of every kind in partner alpha (and the brand), for URL arguments."""
    job_public = JobRun.objects.create(kind="t", label="public job", schema_name="public")
    job_alpha = JobRun.objects.create(kind="t", label="alpha job", schema_name="p_alpha")
    program = ProgramFactory()
    allocation = Allocation.objects.create(
        program=program, partner=partner_a, quantity=1, status=Allocation.Status.SUCCEEDED
    )
    with schema_context(partner_a.schema_name):
        voucher = VoucherFactory(campaign__program_id=program.pk, code="MATRIX-0001")
        merchant = MerchantFactory(user=merchant_a, allowed=[voucher.campaign])
        redemption = voucher_redeem(actor=Actor(merchant=merchant), code=voucher.code)
        customer = Customer.objects.create(source_id="matrix-1", name="Matrix", email="m@x.test")
        segment = Segment.objects.create(name="Matrix segment", kind=Segment.Kind.STATIC)
        customer_import = CustomerImport.objects.create(filename="m.csv", content="a\n1\n")
        # An SMTP account whose server refuses at once, so "Test connection" answers quickly.
        ChannelAccount.objects.create(
            channel="email", config={"mode": "smtp", "host": "127.0.0.1", "port": 9}
        )
        (message,) = outbox_queue([Draft(channel="sms", recipient="+14155550100", body_text="x")])
        distribution = Distribution.objects.create(name="Matrix draft", kind="manual", step=1)
    api_key = ApiKey.objects.create(
        partner=partner_a,
        kind=ApiKey.Kind.MERCHANT,
        merchant_id=merchant.pk,
        app_id="matrix-app",
        token_prefix="x",
        token_hash="0" * 64,
    )
    return {
        "job_public": job_public.pk,
        "job_alpha": job_alpha.pk,
        "program": program.pk,
        "allocation": allocation.pk,
        "campaign": voucher.campaign_id,
        "merchant": merchant.pk,
        "redemption": redemption.pk,
        "redemption_public": redemption.public_id,  # the API's {id}
        "api_key": api_key.pk,
        "code": voucher.code,
        "customer": customer.pk,
        "segment": segment.pk,
        "customer_import": customer_import.pk,
        "message": message.pk,
        "distribution": distribution.pk,
    }


@pytest.mark.parametrize("route", SESSION_ROUTES, ids=lambda r: r.name or r.pattern)
def test_permission_matrix(
    route, client, ctx, brand_admin, partner_user_a, merchant_a, partner_user_b, merchant_b
):
    url = url_for(route, ctx)
    people = {
        "brand_admin": brand_admin,
        "partner_user_a": partner_user_a,
        "merchant_a": merchant_a,
    }
    before = fingerprint()

    # provider callbacks and recipients' links: without a valid signature, secret or token
    # they refuse (403, or 404 for an unknown token) and change nothing
    if route.capability == WEBHOOK:
        for method in (client.get, client.post):
            assert method(url).status_code in (403, 404, 405), url
        assert fingerprint() == before, url
        return

    # anonymous: sent to the login page, for reads and writes alike
    if route.capability != PUBLIC:
        for method in (client.get, client.post):
            response = method(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith("/accounts/login/"), url

    # users of another partner never learn that partner alpha's pages exist
    if route.partner and route.capability != PUBLIC:
        for outsider in (partner_user_b, merchant_b):
            client.force_login(outsider)
            assert client.get(url).status_code == 404, (url, outsider.email)
            assert client.post(url).status_code == 404, (url, outsider.email)
            client.logout()

    # roles without the capability: 403 for reads and writes
    denied = [role for role in ROLES_PUBLIC if not allowed(route, role)]
    for role in denied:
        client.force_login(people[ROLES_PUBLIC[role]])
        assert client.get(url).status_code == 403, (url, role)
        assert client.post(url).status_code == 403, (url, role)
        client.logout()

    # every refused request left the data as it was
    assert fingerprint() == before, url

    # roles with the capability get the page (or, for POST-only endpoints, an answer)
    for role in ROLES_PUBLIC:
        if role in denied:
            continue
        client.force_login(people[ROLES_PUBLIC[role]])
        response = client.get(url)
        if response.status_code == 405:
            response = client.post(url)
            assert response.status_code not in (401, 403, 404), (url, role)
        else:
            assert response.status_code in (200, 302), (url, role, response.status_code)
        client.logout()


@pytest.mark.parametrize("route", API_ROUTES, ids=lambda r: r.name or r.pattern)
def test_api_permission_matrix(route, client, ctx, partner_a, partner_b):
    """The API's matrix: no key → 401 (never a login redirect); partner beta's key → 404 for
    alpha's objects; a merchant key on a partner-only endpoint → 403; the right key gets an
    answer (200, or 400 for a POST without a body)."""
    url = url_for(route, {**ctx, "redemption": ctx["redemption_public"]})
    merchant_key = api_key_issue(partner=partner_a, merchant_id=ctx["merchant"])
    partner_key = api_key_issue(partner=partner_a)
    beta_key = api_key_issue(partner=partner_b)

    def call(method: str, issued=None):
        headers = {}
        if issued is not None:
            headers = {"HTTP_X_APP_ID": issued.key.app_id, "HTTP_X_APP_TOKEN": issued.token}
        return getattr(client, method)(url, **headers)

    before = fingerprint()
    for method in ("get", "post"):
        response = call(method)
        assert response.status_code == 401, (url, method)
        assert response.json()["key"] == "unauthorized"
    if route.kwargs:  # an object of partner alpha: it does not exist for beta's key
        statuses = {call(method, beta_key).status_code for method in ("get", "post")}
        assert statuses in ({404}, {404, 405}), (url, statuses)
    if route.capability == perms.API_PARTNER:
        for method in ("get", "post"):
            assert call(method, merchant_key).status_code == 403, (url, method)
    assert fingerprint() == before, url

    right = [merchant_key, partner_key] if route.capability == perms.API_MERCHANT else [partner_key]
    for issued in right:
        response = call("get", issued)
        if response.status_code == 405:
            response = call("post", issued)
        assert response.status_code in (200, 400), (url, issued.key.kind, response.content)


def test_job_of_another_partner_is_404(client, partner_user_a, partner_b):
    # given a job that belongs to partner beta
    job = JobRun.objects.create(kind="t", label="beta job", schema_name="p_beta")
    client.force_login(partner_user_a)
    # when partner alpha's user asks for it under alpha's portal
    response = client.get(f"/p/alpha/jobs/{job.pk}/")
    # then
    assert response.status_code == 404
    assert client.get(f"/p/alpha/jobs/{uuid.uuid4()}/").status_code == 404
