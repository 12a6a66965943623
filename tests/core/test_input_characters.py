"""NUL and control characters in a query string or a path, for every URL of the project: a
clear 400 (query parameters) or 404 (path ids), never a 500 and never a half-sent export.

One request per URL pattern and kind of input, walked the way the permission matrix walks
them, signed in with a role that may open the page so that the view itself would run."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from apps.accounts import permissions as perms
from apps.accounts.apikeys import api_key_issue
from apps.core.inputs import control_character
from tests import test_permission_matrix as matrix
from tests.permission_matrix import Route
from tests.test_permission_matrix import (
    ALL_ROUTES,
    API_ROUTES,
    ROLES_PUBLIC,
    SAMPLES,
    allowed,
    url_for,
)

# The permission matrix's fixture: one object of every kind in partner alpha.
ctx = matrix.ctx

BAD_QUERIES = [
    "q=%00",
    "campaign=abc%00def",
    "reason=%1B%5B31m",  # an escape sequence
    "%00=1",  # in a parameter's name
    "q=ok&page=1%7F",
]


def path_with_bad_id(route: Route, objects: dict, argument: str) -> str:
    """The route's URL with a NUL appended to one argument's sample value."""
    ctx = {**objects, "partner": route.partner}
    url = "/" + route.pattern
    for name in route.kwargs:
        start = url.index("<")
        value = str(SAMPLES[name](ctx))
        if name == argument:
            value = quote(value + "\x00")
        url = url[:start] + value + url[url.index(">", start) + 1 :]
    return ("/p/alpha" + url) if route.partner else url


def sign_in_for(route: Route, client, people: dict) -> dict:
    """Headers for an API key, or a session of a role allowed on the page."""
    if route in API_ROUTES:
        issued = api_key_issue(partner=people["partner"])
        return {"HTTP_X_APP_ID": issued.key.app_id, "HTTP_X_APP_TOKEN": issued.token}
    client.logout()
    for role, person in ROLES_PUBLIC.items():
        if allowed(route, role):
            client.force_login(people[person])
            break
    return {}


def test_the_rule():
    # then
    assert control_character("plain text, tabs\tand\r\nline ends") is None
    assert control_character("née ☕ 東京") is None
    assert control_character("a\x00b") == "\\u0000"
    assert control_character("\x1b[31m") == "\\u001b"
    assert control_character("\x7f") == "\\u007f"
    assert control_character("\x85") == "\\u0085"


def test_every_url_refuses_control_characters(
    client, ctx, partner_a, brand_admin, partner_user_a, merchant_a
):
    # given
    people = {
        "partner": partner_a,
        "brand_admin": brand_admin,
        "partner_user_a": partner_user_a,
        "merchant_a": merchant_a,
    }
    wrong: list[tuple[str, str, int]] = []
    for route in ALL_ROUTES:
        headers = sign_in_for(route, client, people)
        api = route in API_ROUTES
        url = url_for(route, {**ctx, "redemption": ctx["redemption_public"]})
        # when a query parameter holds one: 400, on reads and writes alike
        for query in BAD_QUERIES:
            for method in (client.get, client.post):
                response = method(f"{url}?{query}", **headers)
                if response.status_code != 400:
                    wrong.append((method.__name__, f"{url}?{query}", response.status_code))
                elif api:
                    body = response.json()
                    assert body["key"] == "invalid_param", body
                    assert "control character" in body["details"], body
                else:
                    assert b"control character" in response.content
        # when a path id holds one: 404
        for argument in route.kwargs:
            bad = path_with_bad_id(route, {**ctx, "redemption": ctx["redemption_public"]}, argument)
            response = client.get(bad, **headers)
            if response.status_code != 404:
                wrong.append(("get", bad, response.status_code))
            elif api:
                assert response.json()["key"] == "not_found"
    # then
    assert wrong == []


@pytest.mark.parametrize("path", ["/v1/vouchers/%00", "/v1/nothing%01", "/p/alpha%00/"])
def test_path_with_control_characters_is_404_before_anything_runs(client, path):
    # when
    response = client.get(path)
    # then (the API answers in its own shape, even before the key is checked)
    assert response.status_code == 404
    if path.startswith("/v1/"):
        assert response.json()["key"] == "not_found"
        assert response["X-Request-Id"] == response.json()["request_id"]


def test_api_query_refusal_names_the_parameter(client):
    # when
    response = client.get("/v1/vouchers?campaign=Spring%00")
    # then
    assert response.status_code == 400
    body = response.json()
    assert set(body) >= {"code", "key", "message", "details", "request_id"}
    assert "“campaign”" in body["details"] and "\\u0000" in body["details"]


def test_allowed_role_list_covers_merchant_pages():
    # a guard for the walk above: every route has someone who may open it
    assert all(
        route.capability in (perms.API_MERCHANT, perms.API_PARTNER)
        or any(allowed(route, role) for role in ROLES_PUBLIC)
        for route in ALL_ROUTES
    )
