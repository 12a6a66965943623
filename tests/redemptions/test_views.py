"""The merchant's redemption form and history: plain POST and HTMX, amount parsing, failures as
sentences, the guessing throttle, and roll back of its own redemptions only."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.redemptions.models import Channel, Merchant, Redemption, RedemptionAttempt
from apps.redemptions.services import ROLLBACK_WINDOW, Actor, voucher_redeem
from tests.factories import MembershipFactory, MerchantFactory, VoucherFactory

REDEEM = "/p/alpha/redeem/"
HISTORY = "/p/alpha/redeem/history/"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def till(client, shop, merchant_a, partner_a):
    """merchant_a signed in, with its Merchant allowed on SPRING-AAAA (5.00 off)."""
    client.force_login(merchant_a)
    actor, voucher = shop
    return client, actor, voucher


def _in_alpha(fn):
    with schema_context("p_alpha"):
        return fn()


def test_form_page_has_labelled_fields_and_two_buttons(till):
    client, actor, _ = till
    # when
    page = client.get(REDEEM).content.decode()
    # then
    for field in ("code", "order_amount", "customer_ref"):
        assert f'<label for="id_{field}">' in page
    assert 'value="check"' in page and 'value="redeem"' in page
    assert 'hx-post="/p/alpha/redeem/"' in page and actor.merchant.name in page


def test_check_without_javascript_shows_discount_and_amount_after(till):
    client, _, voucher = till
    # when
    response = client.post(
        REDEEM, {"code": "spring-aaaa", "order_amount": "25.99", "action": "check"}
    )
    # then a full page with a valid result, and nothing redeemed
    page = response.content.decode()
    assert response.status_code == 200 and "<html" in page
    assert "result-valid" in page and "SPRING-AAAA" in page
    assert "5.00" in page and "20.99" in page
    assert "Nothing is redeemed yet" in page
    _in_alpha(voucher.refresh_from_db)
    assert voucher.redeemed_quantity == 0
    attempt = _in_alpha(RedemptionAttempt.objects.get)
    assert (attempt.action, attempt.ok, attempt.order_amount) == ("validate", True, 2599)


def test_redeem_without_javascript_records_who_and_shows_the_redemption_id(till, merchant_a):
    client, actor, voucher = till
    # when
    response = client.post(
        REDEEM,
        {"code": "SPRING-AAAA", "order_amount": "12", "customer_ref": "till 4", "action": "redeem"},
    )
    # then
    page = response.content.decode()
    assert response.status_code == 200 and "Redeemed" in page and "result-valid" in page
    redemption = _in_alpha(Redemption.objects.get)
    assert redemption.public_id in page
    assert (redemption.merchant_id, redemption.user_id, redemption.channel) == (
        actor.merchant.pk,
        merchant_a.pk,
        Channel.WEB,
    )
    assert (redemption.order_amount, redemption.discount_amount) == (1200, 500)
    assert redemption.customer_ref == "till 4"
    assert "7.00" in page  # to pay after the discount
    assert _in_alpha(RedemptionAttempt.objects.get).ip == "127.0.0.1"
    # and the form is empty again for the next customer
    assert 'name="code" value=' not in page


def test_htmx_post_returns_only_the_panel(till):
    client, _, _ = till
    # when
    response = client.post(REDEEM, {"code": "SPRING-AAAA", "action": "redeem"}, **HTMX)
    # then
    fragment = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in fragment and "sidebar" not in fragment
    assert fragment.lstrip().startswith('<div id="redeem-panel"')
    assert "Redeemed" in fragment and 'data-testid="redemption-id"' in fragment


@pytest.mark.parametrize(
    "prepare, typed, sentence",
    [
        (None, "NOPE-1234", "No code “NOPE-1234” exists here"),
        ("used", "SPRING-AAAA", "This code has already been used."),
        ("expired", "SPRING-AAAA", "This code expired on"),
        ("future", "SPRING-AAAA", "This code is not active yet"),
        ("days", "SPRING-AAAA", "it cannot be used now"),
        ("disabled", "SPRING-AAAA", "This code has been disabled."),
        ("not_allowed", "SPRING-AAAA", "This merchant may not redeem codes of"),
        (None, "SPRING-AAAА", "look-alike letters"),  # Cyrillic А at the end
        (None, "X" * 10_240, "codes are at most 100 characters long"),
    ],
)
@pytest.mark.parametrize("action", ["check", "redeem"])
def test_each_failure_is_a_plain_sentence(till, prepare, typed, sentence, action):
    client, actor, voucher = till
    campaign = voucher.campaign
    now = timezone.now()
    with schema_context("p_alpha"):
        if prepare == "used":
            voucher.redeemed_quantity = 1
        elif prepare == "expired":
            campaign.expiration_date = now - dt.timedelta(days=1)
        elif prepare == "future":
            campaign.start_date = now + dt.timedelta(days=1)
        elif prepare == "days":
            campaign.valid_days = [(timezone.localtime(now).weekday() + 3) % 7]
        elif prepare == "disabled":
            voucher.active = False
        elif prepare == "not_allowed":
            from guardian.shortcuts import remove_perm

            remove_perm("campaigns.redeem_campaign", actor.merchant.user, campaign)
        voucher.save()
        campaign.save()
    # when
    for headers in ({}, HTMX):
        response = client.post(REDEEM, {"code": typed, "action": action}, **headers)
        # then
        page = response.content.decode()
        assert response.status_code == 200
        assert "result-invalid" in page and sentence in page
    with schema_context("p_alpha"):
        assert not Redemption.objects.exists()
        assert RedemptionAttempt.objects.filter(ok=False).count() == 2


@pytest.mark.parametrize(
    "typed, sentence",
    [
        ("abc", "Enter the order amount as a number"),
        ("NaN", "Enter the order amount as a number"),
        ("Infinity", "Enter the order amount as a number"),
        ("-5", "cannot be negative"),
        ("25.999", "at most two digits after the dot"),
        ("1,000", "with a dot for the cents"),
        ("25,99", "with a dot for the cents"),
        ("100000000000", "too large"),
        ("1e999999", "too large"),
    ],
)
def test_amount_parsing_errors_are_field_errors(till, typed, sentence):
    client, _, _ = till
    # when
    for headers in ({}, HTMX):
        response = client.post(
            REDEEM, {"code": "SPRING-AAAA", "order_amount": typed, "action": "redeem"}, **headers
        )
        # then the error sits next to the field and nothing reaches the service
        page = response.content.decode()
        assert response.status_code == 400
        assert 'id="id_order_amount_error"' in page and sentence in page
        assert 'aria-invalid="true"' in page
    assert not _in_alpha(RedemptionAttempt.objects.exists)


@pytest.mark.parametrize("typed, minor", [("25.99", 2599), ("25.9", 2590), ("7", 700), ("0", 0)])
def test_amounts_become_minor_units(till, typed, minor):
    client, _, _ = till
    # when
    client.post(REDEEM, {"code": "SPRING-AAAA", "order_amount": typed, "action": "check"})
    # then
    assert _in_alpha(RedemptionAttempt.objects.get).order_amount == minor


def test_empty_code_is_a_field_error(till):
    client, _, _ = till
    # when
    response = client.post(REDEEM, {"code": "  ", "action": "check"})
    # then
    assert response.status_code == 400
    assert "Enter the code the customer shows you." in response.content.decode()


def test_merchant_login_without_merchant_account_gets_an_explanation(client, partner_a, merchant_a):
    client.force_login(merchant_a)
    # when
    for url in (REDEEM, HISTORY):
        response = client.get(url)
        # then
        assert response.status_code == 200
        assert "Ask Alpha Retail to set up your merchant account" in response.content.decode()
    # an HTMX post reloads the page, so the explanation replaces the form
    response = client.post(REDEEM, {"code": "SPRING-AAAA"}, **HTMX)
    assert response["HX-Refresh"] == "true"


def test_disabled_merchant_gets_an_explanation(till):
    client, actor, _ = till
    _in_alpha(lambda: Merchant.objects.filter(pk=actor.merchant.pk).update(is_active=False))
    # when
    response = client.post(REDEEM, {"code": "SPRING-AAAA", "action": "redeem"})
    # then
    assert "Ask Alpha Retail to enable it again" in response.content.decode()
    assert not _in_alpha(Redemption.objects.exists)


# --- Guessing throttle ----------------------------------------------------------------------


def test_guessing_is_throttled_after_n_unknown_codes(till, settings):
    # given
    settings.GUESS_THROTTLE_FAILURES = 3
    client, _, voucher = till
    for n in range(3):
        response = client.post(REDEEM, {"code": f"GUESS-{n}", "action": "check"})
        assert response.status_code == 200
    # when even a real code arrives after the limit
    page_response = client.post(REDEEM, {"code": "SPRING-AAAA", "action": "redeem"})
    htmx_response = client.post(REDEEM, {"code": "SPRING-AAAA", "action": "redeem"}, **HTMX)
    # then it is refused with how long to wait, and never reaches the service
    for response in (page_response, htmx_response):
        page = response.content.decode()
        assert response.status_code == 429
        assert 0 < int(response["Retry-After"]) <= settings.GUESS_THROTTLE_WINDOW
        assert "Too many codes that do not exist" in page and "try again in 10 minutes" in page
    assert "<html" not in htmx_response.content.decode()
    _in_alpha(voucher.refresh_from_db)
    assert voucher.redeemed_quantity == 0
    assert _in_alpha(RedemptionAttempt.objects.count) == 3


def test_used_codes_do_not_count_as_guesses(till, settings):
    # given
    settings.GUESS_THROTTLE_FAILURES = 2
    client, actor, _ = till
    voucher_redeem(actor=actor, code="SPRING-AAAA")
    # when a merchant keeps trying a real but used code
    for _ in range(4):
        response = client.post(REDEEM, {"code": "SPRING-AAAA", "action": "redeem"})
        # then each answer is the real reason, not a lock-out
        assert response.status_code == 200
        assert "already been used" in response.content.decode()


# --- History and roll back ------------------------------------------------------------------


@pytest.fixture
def other_shop(partner_a, shop):
    """A second merchant of alpha with a redemption of its own (code OTHER-0001)."""
    _, voucher = shop
    login = MembershipFactory(partner=partner_a, role="merchant").user
    with schema_context("p_alpha"):
        merchant = MerchantFactory(user=login, allowed=[voucher.campaign])
        other_voucher = VoucherFactory(campaign=voucher.campaign, code="OTHER-0001")
        return voucher_redeem(actor=Actor(merchant=merchant, user=login), code=other_voucher.code)


def test_history_shows_only_own_redemptions_newest_first(till, other_shop):
    client, actor, voucher = till
    with schema_context("p_alpha"):
        unlimited = VoucherFactory(campaign=voucher.campaign, code="MANY-0001")
        unlimited.redemption_limit = None
        unlimited.save()
        for n in range(30):
            voucher_redeem(actor=actor, code="MANY-0001", order_amount=1000 + n)
        voucher_redeem(actor=actor, code="SPRING-AAAA", order_amount=2599)
    # when
    first = client.get(HISTORY).content.decode()
    second = client.get(HISTORY + "?page=2").content.decode()
    # then
    assert "OTHER-0001" not in first + second
    assert first.count('data-testid="redemption-row"') == 25
    assert second.count('data-testid="redemption-row"') == 6
    assert first.index("SPRING-AAAA") < first.index("MANY-0001")  # newest first
    assert '<td class="num">25.99</td>' in first and '<td class="num">5.00</td>' in first
    assert "Page 1 of 2" in first


def test_history_empty_state(till):
    client, _, _ = till
    # when
    page = client.get(HISTORY).content.decode()
    # then
    assert "No redemptions yet" in page


def test_rollback_own_redemption(till):
    client, actor, voucher = till
    redemption = voucher_redeem(actor=actor, code="SPRING-AAAA")
    # when
    response = client.post(f"{HISTORY}{redemption.pk}/rollback/", follow=True)
    # then
    page = response.content.decode()
    assert "rolled back: the code can be used again" in page
    assert "Rolled back" in page
    _in_alpha(voucher.refresh_from_db)
    assert voucher.redeemed_quantity == 0
    with schema_context("p_alpha"):
        redemption.refresh_from_db()
    assert redemption.status == Redemption.Status.ROLLED_BACK


def test_rollback_button_only_within_the_window(till):
    client, actor, _ = till
    redemption = voucher_redeem(actor=actor, code="SPRING-AAAA")
    url = f"{HISTORY}{redemption.pk}/rollback/"
    assert f'action="{url}"' in client.get(HISTORY).content.decode()
    with schema_context("p_alpha"):
        Redemption.objects.filter(pk=redemption.pk).update(
            created_at=timezone.now() - ROLLBACK_WINDOW - dt.timedelta(minutes=5)
        )
    # when the window has passed
    page = client.get(HISTORY).content.decode()
    response = client.post(url, follow=True)
    # then no button, and a posted roll back is refused with a sentence
    assert f'action="{url}"' not in page
    assert "can be rolled back within 24 hours; ask the partner" in response.content.decode()
    with schema_context("p_alpha"):
        assert Redemption.objects.get().status == Redemption.Status.SUCCEEDED


def test_rollback_of_another_merchants_redemption_is_404(till, other_shop):
    client, _, _ = till
    # when
    response = client.post(f"{HISTORY}{other_shop.pk}/rollback/")
    # then
    assert response.status_code == 404
    with schema_context("p_alpha"):
        other_shop.refresh_from_db()
        assert other_shop.status == Redemption.Status.SUCCEEDED
        assert other_shop.voucher.redeemed_quantity == 1


def test_rollback_needs_post(till):
    client, actor, _ = till
    redemption = voucher_redeem(actor=actor, code="SPRING-AAAA")
    # when
    response = client.get(f"{HISTORY}{redemption.pk}/rollback/")
    # then
    assert response.status_code == 405
    with schema_context("p_alpha"):
        assert Redemption.objects.get().status == Redemption.Status.SUCCEEDED


def test_rollback_twice_says_so(till):
    client, actor, _ = till
    redemption = voucher_redeem(actor=actor, code="SPRING-AAAA")
    client.post(f"{HISTORY}{redemption.pk}/rollback/")
    # when
    response = client.post(f"{HISTORY}{redemption.pk}/rollback/", follow=True)
    # then
    assert "This redemption has already been rolled back." in response.content.decode()
