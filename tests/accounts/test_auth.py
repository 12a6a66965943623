"""Sign-in, throttling, password reset and where each role lands."""

from __future__ import annotations

import re

from django.core import mail
from django.core.cache import cache

from tests.factories import PASSWORD


def login(client, email, password=PASSWORD, **extra):
    return client.post("/accounts/login/", {"username": email, "password": password}, **extra)


def test_each_role_lands_on_its_page(client, brand_admin, partner_user_a, merchant_a):
    # when / then
    for user, landing in (
        (brand_admin, "/brand/"),
        (partner_user_a, "/p/alpha/"),
        (merchant_a, "/p/alpha/redeem/"),
    ):
        response = login(client, user.email)
        assert response.status_code == 302
        assert client.get("/").url == landing
        assert client.get(landing).status_code == 200
        client.post("/accounts/logout/")


def test_wrong_password_is_a_clear_form_error(client, partner_user_a):
    # when
    response = login(client, partner_user_a.email, "nope")
    # then
    assert response.status_code == 200
    assert "do not match an account" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_login_is_throttled_after_repeated_failures(client, partner_user_a, settings):
    # given
    settings.LOGIN_THROTTLE_FAILURES = 3
    cache.clear()
    for _ in range(3):
        login(client, partner_user_a.email, "wrong")
    # when the right password arrives after the limit
    response = login(client, partner_user_a.email)
    # then it is refused as throttled (429, Retry-After) with a sentence saying what to do
    assert_throttled(response, settings)
    assert "_auth_user_id" not in client.session
    cache.clear()


def test_throttle_also_counts_per_address(client, partner_user_a, merchant_a, settings):
    # given failures spread over several emails from one address
    settings.LOGIN_THROTTLE_FAILURES = 3
    cache.clear()
    for n in range(3):
        login(client, f"guess{n}@alpha.test", "wrong")
    # when
    response = login(client, merchant_a.email)
    # then
    assert_throttled(response, settings)
    cache.clear()


def assert_throttled(response, settings) -> None:
    assert response.status_code == 429
    assert response["Retry-After"] == str(settings.LOGIN_THROTTLE_WINDOW)
    assert "Too many failed sign-in attempts. Wait" in response.content.decode()


def test_password_reset_sends_a_working_link(client, partner_user_a):
    # when
    response = client.post("/accounts/password/reset/", {"email": partner_user_a.email})
    # then
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/accounts/password/reset/\S+/)", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    form_url = client.get(link.group(1)).url
    response = client.post(
        form_url,
        {"new_password1": "a-new-long-passphrase", "new_password2": "a-new-long-passphrase"},
    )
    assert response.status_code == 302
    assert login(client, partner_user_a.email, "a-new-long-passphrase").status_code == 302


def test_password_reset_for_unknown_email_reveals_nothing(client, db):
    # when
    response = client.post("/accounts/password/reset/", {"email": "nobody@nowhere.test"})
    # then
    assert response.status_code == 302
    assert mail.outbox == []


def test_password_change(client, partner_user_a):
    # given
    client.force_login(partner_user_a)
    # when
    response = client.post(
        "/accounts/password/change/",
        {
            "old_password": PASSWORD,
            "new_password1": "another-long-passphrase",
            "new_password2": "another-long-passphrase",
        },
    )
    # then
    assert response.status_code == 302
    partner_user_a.refresh_from_db()
    assert partner_user_a.check_password("another-long-passphrase")


def test_user_in_two_partners_gets_the_switcher(client, partner_a, partner_b):
    # given
    from tests.factories import MembershipFactory

    member = MembershipFactory(partner=partner_a).user
    MembershipFactory(partner=partner_b, user=member, role="merchant")
    client.force_login(member)
    # when
    response = client.get("/", follow=True)
    # then
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == "/accounts/partners/"
    assert 'href="/p/alpha/"' in page and 'href="/p/beta/redeem/"' in page
    assert client.get("/p/beta/redeem/").status_code == 200
    assert client.get("/p/beta/").status_code == 403  # a merchant in beta


def test_user_without_partner_sees_an_empty_state(client, db):
    # given
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    # when
    response = client.get("/", follow=True)
    # then
    assert "No partner yet" in response.content.decode()


def test_logout_needs_post_and_csrf(partner_user_a):
    from django.test import Client

    # given a client that enforces CSRF like a browser
    client = Client(enforce_csrf_checks=True)
    client.force_login(partner_user_a)
    # when
    response = client.post("/accounts/logout/")
    # then
    assert response.status_code == 403
    assert "_auth_user_id" in client.session
