"""Customer pages: list (search, filters, keyset pages, export), create and edit with every bad
input refused by a sentence, the customer page's sections, and partner isolation."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.customers.models import Customer, Event
from apps.customers.validators import FieldProblem, clean_phone

BASE = "/p/alpha/customers/"


def form(**overrides) -> dict[str, str]:
    data = {
        "source_id": "crm-1",
        "name": "Ann Lee",
        "email": "Ann@Example.test",
        "phone": "+44 20 7946-0958",
        "address_line_1": "1 High St",
        "city": "Leeds",
        "country": "UK",
        "birthdate": "1990-04-23",
        "metadata": '{"tier": "gold"}',
        "email_consent": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("+1 415-555-0123", "+14155550123"),
        ("0044 (20) 7946.0958", "+442079460958"),
        ("", ""),
    ],
)
def test_phone_is_normalised_to_e164(raw, stored):
    assert clean_phone(raw) == stored


@pytest.mark.parametrize("raw", ["4155550123", "+0123456789", "+1 415 CALL ME", "+12"])
def test_phone_not_in_e164_is_refused_with_an_example(raw):
    with pytest.raises(FieldProblem, match=r"e\.g\. \+14155550123"):
        clean_phone(raw)


def test_create_customer(client, partner_user_a, partner_a):
    # given
    client.force_login(partner_user_a)
    # when
    response = client.post(f"{BASE}new/", form())
    # then
    assert response.status_code == 302, response.content.decode()[-2000:]
    with schema_context("p_alpha"):
        customer = Customer.objects.get()
        assert response["Location"] == f"{BASE}{customer.pk}/"
        assert (customer.email, customer.phone, customer.metadata) == (
            "ann@example.test",
            "+442079460958",
            {"tier": "gold"},
        )
        assert customer.email_consent and customer.email_consent_source == "portal"
        assert customer.email_consent_at is not None
        assert not customer.sms_consent and customer.sms_consent_at is None
        assert Event.objects.filter(customer=customer, type="customer.created").exists()


@pytest.mark.parametrize(
    ("overrides", "field", "sentence"),
    [
        ({"phone": "555 0123"}, "phone", "e.g. +14155550123"),
        ({"metadata": '{"tier": gold}'}, "metadata", "not valid JSON: Expecting value"),
        ({"metadata": "[1, 2]"}, "metadata", "must be a JSON object"),
        ({"birthdate": "2999-01-01"}, "birthdate", "is in the future"),
        ({"birthdate": "23/04/1990"}, "birthdate", "YYYY-MM-DD"),
        ({"email": "ann@"}, "email", "is not an email address"),
    ],
)
def test_create_refuses_bad_input(client, partner_user_a, partner_a, overrides, field, sentence):
    # given
    client.force_login(partner_user_a)
    # when
    response = client.post(f"{BASE}new/", form(**overrides))
    # then
    assert response.status_code == 400
    body = response.content.decode()
    assert sentence in body
    assert f'id="id_{field}_error"' in body
    with schema_context("p_alpha"):
        assert not Customer.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "sentence"),
    [
        ({"source_id": "crm-1", "email": "other@x.test"}, "already has the source ID “crm-1”"),
        ({"source_id": "crm-2", "email": "ANN@example.test"}, "already uses ann@example.test"),
    ],
)
def test_duplicates_are_refused_naming_the_other_customer(
    client, partner_user_a, partner_a, overrides, sentence
):
    # given
    with schema_context("p_alpha"):
        Customer.objects.create(source_id="crm-1", email="ann@example.test", name="Ann")
    client.force_login(partner_user_a)
    # when
    response = client.post(f"{BASE}new/", form(**overrides))
    # then
    assert response.status_code == 400
    assert sentence in response.content.decode()
    with schema_context("p_alpha"):
        assert Customer.objects.count() == 1


def test_edit_keeps_consent_time_and_clearing_clears_it(client, partner_user_a, partner_a):
    # given a customer who consented by email a while ago
    then = timezone.now() - dt.timedelta(days=30)
    with schema_context("p_alpha"):
        customer = Customer.objects.create(
            source_id="crm-1",
            email="ann@example.test",
            email_consent=True,
            email_consent_source="import",
            email_consent_at=then,
        )
    client.force_login(partner_user_a)
    # when the form is saved with email consent still ticked and SMS newly ticked
    response = client.post(f"{BASE}{customer.pk}/edit/", form(sms_consent="on"))
    # then
    assert response.status_code == 302
    with schema_context("p_alpha"):
        customer.refresh_from_db()
        assert (customer.email_consent_source, customer.email_consent_at) == ("import", then)
        assert customer.sms_consent and customer.sms_consent_source == "portal"
    # when email consent is cleared
    client.post(f"{BASE}{customer.pk}/edit/", form(email_consent=None, sms_consent="on"))
    # then
    with schema_context("p_alpha"):
        customer.refresh_from_db()
        assert not customer.email_consent
        assert customer.email_consent_at is None and customer.email_consent_source == ""


def test_edit_refuses_an_email_of_another_customer(client, partner_user_a, partner_a):
    with schema_context("p_alpha"):
        Customer.objects.create(source_id="other", email="taken@x.test")
        customer = Customer.objects.create(source_id="crm-1", email="ann@x.test")
    client.force_login(partner_user_a)
    response = client.post(f"{BASE}{customer.pk}/edit/", form(email="Taken@X.test"))
    assert response.status_code == 400
    assert "already uses taken@x.test" in response.content.decode()
    with schema_context("p_alpha"):
        customer.refresh_from_db()
        assert customer.email == "ann@x.test"


def test_list_search_filters_and_pages(client, partner_user_a, partner_a):
    # given 60 customers, every third with SMS consent
    with schema_context("p_alpha"):
        Customer.objects.bulk_create(
            Customer(
                source_id=f"s{i}",
                name=f"Person {i}",
                email=f"p{i}@x.test",
                phone=f"+1415555{i:04d}",
                sms_consent=i % 3 == 0,
            )
            for i in range(60)
        )
    client.force_login(partner_user_a)
    # when / then: the first page shows 50, newest first, with a link to older ones
    page = client.get(BASE)
    body = page.content.decode()
    assert page.status_code == 200 and "60 customers" in body
    assert body.count("/p/alpha/customers/") > 50 and "Person 59" in body and "after=" in body
    # search by email, phone, source id and name
    assert "Person 7<" in client.get(BASE, {"q": "P7@X.test"}).content.decode()
    assert "Person 12<" in client.get(BASE, {"q": "+1 415 555 0012"}).content.decode()
    assert "Person 33<" in client.get(BASE, {"q": "s33"}).content.decode()
    assert "1 customer match" in client.get(BASE, {"q": "person 42"}).content.decode()
    # consent filter (HTMX asks only for the table)
    partial = client.get(BASE, {"sms_consent": "yes"}, HTTP_HX_REQUEST="true")
    assert "20 customers match" in partial.content.decode()
    assert "<html" not in partial.content.decode()


def test_export_streams_the_filtered_customers(client, partner_user_a, partner_a):
    with schema_context("p_alpha"):
        Customer.objects.create(source_id="a", email="a@x.test", sms_consent=True)
        Customer.objects.create(source_id="b", email="b@x.test")
    client.force_login(partner_user_a)
    response = client.get(f"{BASE}export.csv", {"sms_consent": "yes"})
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("id,source_id,name,email")
    assert len(lines) == 2 and ",a,," in lines[1]


def test_detail_shows_consents_metadata_and_events(client, partner_user_a, partner_a):
    # given
    client.force_login(partner_user_a)
    client.post(f"{BASE}new/", form())
    with schema_context("p_alpha"):
        customer = Customer.objects.get()
    # when
    page = client.get(f"{BASE}{customer.pk}/")
    # then
    body = page.content.decode()
    assert page.status_code == 200
    assert "via portal" in body and "customer.created" in body and "tier" in body
    assert f"cust_{customer.pk}" in body


def test_another_partners_customer_is_404(client, partner_user_b, partner_a, partner_b):
    # given a customer of partner alpha and none in beta
    with schema_context("p_alpha"):
        customer = Customer.objects.create(source_id="alpha-only")
    client.force_login(partner_user_b)
    # when beta's user asks for it in beta's portal
    for url in (f"/p/beta/customers/{customer.pk}/", f"/p/beta/customers/{customer.pk}/edit/"):
        assert client.get(url).status_code == 404
    # and in alpha's portal
    assert client.get(f"/p/alpha/customers/{customer.pk}/").status_code == 404
