"""Whether a partner exists does not show to anyone who has nothing to do with it: whatever the
path's shape and whoever asks, another partner's pages answer exactly as a partner that does
not exist (apps/accounts/middleware.py, the partner gate)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from tests.factories import UserFactory

SHAPES = ["campaigns", "campaigns/", "", "customers/123/edit/", "channels/outbox/?format=csv"]
PARTNERS = ["beta", "no-such-partner"]  # beta exists; the visitors below are not in it
VISITORS = ["anonymous", "partner_user_a", "merchant_a", "stranger"]


def _ask(client, request, visitor: str, slug: str, shape: str):
    if visitor == "stranger":
        client.force_login(UserFactory())  # signed in, a member of nothing
    elif visitor != "anonymous":
        client.force_login(request.getfixturevalue(visitor))
    return client.get(f"/p/{slug}/{shape}" if shape else f"/p/{slug}")


def _shape_of(response) -> tuple:
    body = response.content.decode()
    location = response.get("Location", "")
    # The only difference allowed is the path itself, echoed back in `next`.
    return (
        response.status_code,
        re.sub(r"/p/[^/?&]+", "/p/X", location.replace("%2F", "/")),
        re.sub(r"/p/[^/?&\"]+", "/p/X", body),
    )


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("visitor", VISITORS)
def test_another_partner_answers_as_a_missing_one(client, request, partner_b, visitor, shape):
    # given a partner the visitor has nothing to do with, and one that does not exist
    answers = []
    for slug in PARTNERS:
        client.logout()
        # when
        response = _ask(client, request, visitor, slug, shape)
        answers.append(_shape_of(response))
    # then the two answers are the same
    assert answers[0] == answers[1]
    status, location, body = answers[0]
    if visitor == "anonymous":
        assert status == 302 and location.startswith("/accounts/login/?next=/p/X")
    else:
        assert status == 404 and "There is nothing here" in body
        assert "Beta Travel" not in body


@pytest.mark.parametrize("shape", ["campaigns", "campaigns/", ""])
def test_members_and_brand_admins_still_get_in(client, partner_user_b, brand_admin, shape):
    for user in (partner_user_b, brand_admin):
        # given
        client.force_login(user)
        # when
        response = client.get(f"/p/beta/{shape}" if shape else "/p/beta")
        # then a missing slash is still added for them
        assert response.status_code in (200, 301)
        if response.status_code == 301:
            assert response["Location"].endswith("/")
        assert client.get(f"/p/beta/{shape.rstrip('/')}/".replace("//", "/")).status_code == 200


def test_brand_admin_gets_a_404_for_a_partner_that_does_not_exist(client, brand_admin):
    client.force_login(brand_admin)
    assert client.get("/p/no-such-partner/campaigns/").status_code == 404
    assert client.get("/p/no-such-partner/campaigns").status_code == 404


def test_recipients_links_still_work_without_a_session(client, partner_a):
    # given a link from an email (no session); its own token is checked by its view
    assert get_user_model().objects.count() == 0
    # when
    answer = client.get("/p/alpha/m/u/not-a-valid-token/")
    # then the view answered, not the login redirect
    assert answer.status_code != 302
    assert client.get("/p/no-such-partner/m/u/not-a-valid-token/").status_code == 404
