"""Creating and editing merchants: the login, the invitation email, the campaigns it may redeem
(guardian object permissions), and every bad input refused with a sentence."""

from __future__ import annotations

import re

from django.core import mail
from django_tenants.utils import schema_context
from guardian.core import ObjectPermissionChecker

from apps.accounts.models import Membership, User
from apps.redemptions.models import Merchant
from tests.factories import MerchantFactory, UserFactory
from tests.redemptions.merchants.conftest import BASE


def may_redeem(user, campaign) -> bool:
    return ObjectPermissionChecker(user).has_perm("redeem_campaign", campaign)


def test_create_merchant_with_a_new_login(
    client, partner_user_a, partner_a, campaigns, django_capture_on_commit_callbacks
):
    # given
    client.force_login(partner_user_a)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"{BASE}new/",
            {
                "name": "  Harbour   Kiosk ",
                "location": "Pier 4",
                "email": "Kiosk@Harbour.test",
                "campaigns": [campaigns[1].pk],
            },
        )
    # then the merchant, its login and its membership exist
    assert response.status_code == 302
    user = User.objects.get(email="kiosk@harbour.test")
    assert not user.has_usable_password()
    assert Membership.objects.get(user=user, partner=partner_a).role == "merchant"
    with schema_context(partner_a.schema_name):
        merchant = Merchant.objects.get()
        assert (merchant.name, merchant.location, merchant.user) == (
            "Harbour Kiosk",
            "Pier 4",
            user,
        )
        assert response["Location"] == f"{BASE}{merchant.pk}/"
        assert may_redeem(user, campaigns[1]) and not may_redeem(user, campaigns[0])
    # and an email lets the new merchant choose a password through the reset machinery
    (message,) = mail.outbox
    assert message.to == ["kiosk@harbour.test"]
    assert "Alpha Retail" in message.subject
    link = re.search(r"http://testserver(/accounts/password/reset/\S+/)", message.body).group(1)
    client.logout()
    form_url = client.get(link)["Location"]
    done = client.post(
        form_url, {"new_password1": "a-good-new-pass-42", "new_password2": "a-good-new-pass-42"}
    )
    assert done.status_code == 302, done.content.decode()[-1500:]
    user.refresh_from_db()
    assert user.check_password("a-good-new-pass-42")


def test_create_merchant_reuses_an_existing_login(
    client, partner_user_a, partner_a, partner_b, campaigns, django_capture_on_commit_callbacks
):
    # given a person who already has a password (a merchant of another partner)
    existing = UserFactory(email="chain@shops.test")
    Membership.objects.create(user=existing, partner=partner_b, role="merchant")
    client.force_login(partner_user_a)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{BASE}new/", {"name": "Chain Store", "email": "CHAIN@shops.test"})
    # then
    assert response.status_code == 302
    assert User.objects.filter(email__iexact="chain@shops.test").count() == 1
    assert Membership.objects.get(user=existing, partner=partner_a).role == "merchant"
    assert mail.outbox == []  # an existing password is left alone
    with schema_context(partner_a.schema_name):
        assert Merchant.objects.get().user == existing


def post_bad(client, data):
    return client.post(f"{BASE}new/", {"name": "New Shop", "email": "new@shop.test", **data})


def test_create_refuses_a_duplicate_name(client, partner_user_a, partner_a, shop):
    # given
    client.force_login(partner_user_a)
    # when
    response = post_bad(client, {"name": "corner shop"})
    # then
    assert response.status_code == 400
    assert "A merchant named “corner shop” already exists" in response.content.decode()
    assert 'id="id_name_error"' in response.content.decode()
    assert not User.objects.filter(email="new@shop.test").exists()
    with schema_context(partner_a.schema_name):
        assert Merchant.objects.count() == 1


def test_create_refuses_bad_input_with_sentences(client, partner_user_a, partner_a, campaigns):
    # given
    client.force_login(partner_user_a)
    # when / then
    cases = [
        ({"email": "not-an-email"}, "Enter a valid email address"),
        ({"email": ""}, "Enter the email address the merchant will sign in with"),
        ({"name": "   "}, "Enter the merchant&#x27;s name"),
        ({"name": "x" * 121}, "at most 120 characters"),
        ({"campaigns": ["999999"]}, "Choose campaigns from the list"),
    ]
    for data, sentence in cases:
        response = post_bad(client, data)
        assert response.status_code == 400, data
        assert sentence in response.content.decode(), data
    with schema_context(partner_a.schema_name):
        assert not Merchant.objects.exists()
    assert not User.objects.filter(email="new@shop.test").exists()


def test_create_refuses_the_email_of_a_partner_user(client, partner_user_a, partner_a):
    # given
    client.force_login(partner_user_a)
    # when
    response = post_bad(client, {"email": partner_user_a.email.upper()})
    # then
    assert response.status_code == 400
    assert "is a partner user of Alpha Retail" in response.content.decode()
    membership = Membership.objects.get(user=partner_user_a, partner=partner_a)
    assert membership.role == "partner_user"  # not silently turned into a merchant
    with schema_context(partner_a.schema_name):
        assert not Merchant.objects.exists()


def test_create_refuses_an_email_already_used_by_a_merchant_or_the_brand(
    client, partner_user_a, merchant_a, brand_admin, shop
):
    # given
    client.force_login(partner_user_a)
    # when
    taken = post_bad(client, {"email": merchant_a.email})
    admin = post_bad(client, {"email": brand_admin.email})
    # then
    assert "already the login of the merchant “Corner Shop”" in taken.content.decode()
    assert "belongs to a brand administrator" in admin.content.decode()
    assert not Membership.objects.filter(user=brand_admin).exists()


def test_edit_grants_and_revokes_campaigns_in_guardian(
    client, partner_user_a, partner_a, merchant_a, campaigns, shop
):
    # given Corner Shop may redeem Autumn only
    client.force_login(partner_user_a)
    page = client.get(f"{BASE}{shop.pk}/edit/")
    assert page.status_code == 200
    assert page.context["form"].initial["campaigns"] == [campaigns[0]]
    # when the partner swaps Autumn for Spring and switches the merchant off
    response = client.post(
        f"{BASE}{shop.pk}/edit/",
        {"name": "Corner Shop", "location": "Elm St", "campaigns": [campaigns[1].pk]},
    )
    # then
    assert response.status_code == 302
    with schema_context(partner_a.schema_name):
        shop.refresh_from_db()
        assert (shop.location, shop.is_active) == ("Elm St", False)
        assert not may_redeem(merchant_a, campaigns[0])
        assert may_redeem(merchant_a, campaigns[1])
    # when every campaign is unticked
    client.post(f"{BASE}{shop.pk}/edit/", {"name": "Corner Shop", "is_active": "on"})
    # then
    with schema_context(partner_a.schema_name):
        assert not any(may_redeem(merchant_a, c) for c in campaigns)
        assert Merchant.objects.get(pk=shop.pk).is_active


def test_edit_refuses_the_name_of_another_merchant(client, partner_user_a, partner_a, shop):
    # given
    with schema_context(partner_a.schema_name):
        MerchantFactory(name="Station Kiosk", user=UserFactory())
    client.force_login(partner_user_a)
    # when
    response = client.post(f"{BASE}{shop.pk}/edit/", {"name": "STATION KIOSK"})
    # then
    assert response.status_code == 400
    assert "already exists" in response.content.decode()
    with schema_context(partner_a.schema_name):
        assert Merchant.objects.get(pk=shop.pk).name == "Corner Shop"


def test_list_and_detail_show_the_merchant(client, partner_user_a, brand_admin, shop, campaigns):
    # given
    client.force_login(partner_user_a)
    # when
    listing = client.get(BASE).content.decode()
    detail = client.get(f"{BASE}{shop.pk}/").content.decode()
    # then
    assert "Corner Shop" in listing and "shop@alpha.test" in listing
    assert "Autumn" in detail and "Spring" not in detail
    assert f"{BASE}{shop.pk}/edit/" in detail
    # the brand may look but not change: no edit or key controls
    client.force_login(brand_admin)
    as_brand = client.get(f"{BASE}{shop.pk}/").content.decode()
    assert f"{BASE}{shop.pk}/edit/" not in as_brand and "Issue a key" not in as_brand
    assert client.post(f"{BASE}{shop.pk}/edit/", {"name": "X"}).status_code == 403


def test_merchant_of_another_partner_is_404(client, partner_user_a, partner_b, merchant_b):
    # given a merchant that exists only in partner beta's schema
    with schema_context(partner_b.schema_name):
        beta_shop = MerchantFactory(user=merchant_b)
    client.force_login(partner_user_a)
    # when / then
    for url in (f"{BASE}{beta_shop.pk}/", f"{BASE}{beta_shop.pk}/edit/"):
        assert client.get(url).status_code == 404
    assert client.post(f"{BASE}{beta_shop.pk}/keys/new/").status_code == 404
    assert client.get(f"/p/beta/merchants/{beta_shop.pk}/").status_code == 404


def test_empty_merchant_list_invites_to_create_one(client, partner_user_a):
    # given
    client.force_login(partner_user_a)
    # when
    response = client.get(BASE)
    # then
    assert "No merchants yet" in response.content.decode()
    assert f"{BASE}new/" in response.content.decode()


def test_password_link_can_be_sent_again_until_a_password_is_chosen(
    client, partner_user_a, partner_a, shop, django_capture_on_commit_callbacks
):
    # given a merchant whose login never chose a password
    with django_capture_on_commit_callbacks(execute=True):
        client.force_login(partner_user_a)
        client.post(f"{BASE}new/", {"name": "Late Shop", "email": "late@shop.test"})
    mail.outbox.clear()
    with schema_context(partner_a.schema_name):
        late = Merchant.objects.get(name="Late Shop")
    assert "password not chosen yet" in client.get(f"{BASE}{late.pk}/").content.decode()
    # when
    again = client.post(f"{BASE}{late.pk}/invite/", follow=True)
    refused = client.post(f"{BASE}{shop.pk}/invite/", follow=True)
    # then
    assert [m.to for m in mail.outbox] == [["late@shop.test"]]
    assert "Sent a new password link to late@shop.test" in again.content.decode()
    assert "has already chosen a password" in refused.content.decode()
