"""API keys from the partner portal and the create_api_key command: a token is shown once,
only its hash is stored, a revoked key stops working, and other partners' keys are 404."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.core.management import CommandError, call_command
from django_tenants.utils import schema_context

from apps.accounts.apikeys import api_key_authenticate, api_key_issue
from apps.accounts.models import ApiKey
from tests.factories import MerchantFactory, UserFactory
from tests.redemptions.merchants.conftest import BASE


def issue_on_page(client, url: str, name: str = "Till 1") -> tuple[str, str, str]:
    response = client.post(url, {"name": name})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    issued = response.context["issued"]
    return issued.key.app_id, issued.token, response.content.decode()


def test_merchant_key_is_shown_once_and_only_its_hash_is_stored(
    client, partner_user_a, partner_a, shop
):
    # given
    client.force_login(partner_user_a)
    # when
    app_id, token, page = issue_on_page(client, f"{BASE}{shop.pk}/keys/new/")
    # then the page shows both headers, once
    assert f'<code class="code" data-testid="issued-app-id">{app_id}</code>' in page
    assert f'<code class="code" data-testid="issued-token">{token}</code>' in page
    key = ApiKey.objects.get(app_id=app_id)
    assert (key.partner, key.kind, key.merchant_id, key.name) == (
        partner_a,
        "merchant",
        shop.pk,
        "Till 1",
    )
    assert key.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in [str(v) for v in ApiKey.objects.values().get(pk=key.pk).values()]
    assert api_key_authenticate(app_id, token) == key
    # and never again: the detail page lists the key by its prefix only
    later = client.get(f"{BASE}{shop.pk}/").content.decode()
    assert app_id in later and f"{key.token_prefix}…" in later
    assert token not in later


def test_revoked_key_no_longer_authenticates(client, partner_user_a, shop):
    # given
    client.force_login(partner_user_a)
    app_id, token, _ = issue_on_page(client, f"{BASE}{shop.pk}/keys/new/")
    key = ApiKey.objects.get(app_id=app_id)
    # when
    response = client.post(f"{BASE}{shop.pk}/keys/{key.pk}/revoke/")
    # then
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api_key_authenticate(app_id, token) is None
    page = client.get(f"{BASE}{shop.pk}/").content.decode()
    assert "Revoked" in page
    assert 'data-confirm="Revoke the key' not in page  # nothing left to revoke


def test_revoke_asks_for_confirmation(client, partner_user_a, partner_a, shop):
    # given
    api_key_issue(partner=partner_a, merchant_id=shop.pk)
    client.force_login(partner_user_a)
    # when
    page = client.get(f"{BASE}{shop.pk}/").content.decode()
    # then
    assert 'data-confirm="Revoke the key' in page


def test_key_of_another_merchant_or_partner_is_404(
    client, partner_user_a, partner_a, partner_b, merchant_b, shop
):
    # given keys of another merchant of alpha, and of partner beta
    with schema_context(partner_a.schema_name):
        other_shop = MerchantFactory(user=UserFactory())
    other_merchant_key = api_key_issue(partner=partner_a, merchant_id=other_shop.pk).key
    beta_key = api_key_issue(partner=partner_b).key
    with schema_context(partner_b.schema_name):
        beta_shop = MerchantFactory(user=merchant_b)
    beta_merchant_key = api_key_issue(partner=partner_b, merchant_id=beta_shop.pk).key
    client.force_login(partner_user_a)
    # when / then
    assert client.post(f"{BASE}{shop.pk}/keys/{other_merchant_key.pk}/revoke/").status_code == 404
    for key in (beta_key, beta_merchant_key):
        assert client.post(f"{BASE}keys/{key.pk}/revoke/").status_code == 404
        assert client.post(f"{BASE}{shop.pk}/keys/{key.pk}/revoke/").status_code == 404
    assert not ApiKey.objects.filter(revoked_at__isnull=False).exists()


def test_partner_keys_page_issues_lists_and_revokes(client, partner_user_a, partner_a, shop):
    # given a merchant key exists too
    merchant_key = api_key_issue(partner=partner_a, merchant_id=shop.pk, name="Till 9").key
    client.force_login(partner_user_a)
    # when
    app_id, token, page = issue_on_page(client, f"{BASE}keys/new/", name="Back office")
    # then
    key = ApiKey.objects.get(app_id=app_id)
    assert (key.kind, key.merchant_id, key.name) == ("partner", None, "Back office")
    assert token in page
    listing = client.get(f"{BASE}keys/").content.decode()
    assert token not in listing
    assert app_id in listing and merchant_key.app_id in listing and "Corner Shop" in listing
    # when revoking both from the keys page
    for revoked in (key, merchant_key):
        assert client.post(f"{BASE}keys/{revoked.pk}/revoke/").status_code == 302
    # then
    assert ApiKey.objects.filter(revoked_at__isnull=True).count() == 0
    assert api_key_authenticate(app_id, token) is None


def test_only_partner_users_issue_keys(client, brand_admin, merchant_a, shop):
    # when / then
    client.force_login(brand_admin)
    assert client.get(f"{BASE}keys/").status_code == 200
    assert client.post(f"{BASE}keys/new/").status_code == 403
    assert client.post(f"{BASE}{shop.pk}/keys/new/").status_code == 403
    client.force_login(merchant_a)
    assert client.post(f"{BASE}{shop.pk}/keys/new/").status_code == 403
    assert not ApiKey.objects.exists()


def test_key_create_accepts_only_post(client, partner_user_a, shop):
    # given
    client.force_login(partner_user_a)
    # when / then
    assert client.get(f"{BASE}{shop.pk}/keys/new/").status_code == 405
    assert not ApiKey.objects.exists()


def run_command(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_command_issues_a_partner_key(partner_a):
    # when
    out, err = run_command("--partner", "alpha", "--name", "ops script")
    # then
    lines = out.strip().splitlines()
    assert lines[0].startswith("X-App-Id: ") and lines[1].startswith("X-App-Token: ")
    app_id, token = lines[0].split(": ", 1)[1], lines[1].split(": ", 1)[1]
    key = api_key_authenticate(app_id, token)
    assert key is not None
    assert (key.partner, key.kind, key.merchant_id, key.name) == (
        partner_a,
        "partner",
        None,
        "ops script",
    )
    assert "not shown again" in err


def test_command_issues_a_merchant_key(partner_a, shop):
    # when
    out, _ = run_command("--partner", "alpha", "--merchant", "corner shop")
    # then
    app_id = out.splitlines()[0].split(": ", 1)[1]
    key = ApiKey.objects.get(app_id=app_id)
    assert (key.kind, key.merchant_id) == ("merchant", shop.pk)


def test_command_names_an_unknown_partner_or_merchant(partner_a, shop):
    # when / then
    with pytest.raises(CommandError, match="No partner with the slug 'nowhere'"):
        run_command("--partner", "nowhere")
    with pytest.raises(CommandError, match="Partner 'alpha' has no merchant named 'Ghost Shop'"):
        run_command("--partner", "alpha", "--merchant", "Ghost Shop")
    assert not ApiKey.objects.exists()
