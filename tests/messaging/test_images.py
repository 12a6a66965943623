"""Code images: QR and Code 128 PNGs served to recipients without a session, behind a signed
token that only works for codes that exist and only under the partner it was made for."""

from __future__ import annotations

import pytest
from django.urls import resolve
from django_tenants.utils import schema_context

from apps.core.permissions import WEBHOOK, view_capability
from apps.messaging.images import SAMPLE_CODE, code_from_token, code_token, voucher_image_urls
from apps.tenancy.urlconf import partner_urlconf
from tests.factories import VoucherFactory

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _path(url: str, settings) -> str:
    assert url.startswith(settings.SITE_URL)
    return url[len(settings.SITE_URL) :]


@pytest.fixture
def voucher_a(partner_a):
    with schema_context(partner_a.schema_name):
        return VoucherFactory(code="ALPHA-0001")


@pytest.mark.parametrize("kind", ["qr_url", "barcode_url"])
def test_code_images_are_pngs_for_anyone_with_the_link(
    client, voucher_a, partner_a, settings, kind
):
    # given: no session, as in an email client
    url = voucher_image_urls("ALPHA-0001", partner=partner_a)[kind]

    # when
    response = client.get(_path(url, settings))

    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "public, max-age=86400"
    assert response.content.startswith(PNG_SIGNATURE)
    assert len(response.content) > 100


def test_image_urls_are_absolute_partner_urls_and_do_not_show_the_code(partner_a, settings):
    # when
    urls = voucher_image_urls("ALPHA-0001", partner=partner_a)

    # then
    qr_path = _path(urls["qr_url"], settings)
    assert qr_path.startswith("/p/alpha/m/c/") and qr_path.endswith("/qr.png")
    assert "ALPHA-0001" not in qr_path
    match = resolve(qr_path, urlconf=partner_urlconf("alpha"))
    assert match.view_name == "hooks:code_qr"
    assert code_from_token(match.kwargs["token"], schema_name="p_alpha") == "ALPHA-0001"


def test_image_views_declare_webhook(client, voucher_a, partner_a, settings):
    # given
    from apps.messaging import images

    # then: the permission matrix sees the declaration, and only GET/HEAD are served
    assert view_capability(images.code_qr_view) == WEBHOOK
    assert view_capability(images.code_barcode_view) == WEBHOOK
    url = voucher_image_urls("ALPHA-0001", partner=partner_a)["qr_url"]
    assert client.post(_path(url, settings)).status_code == 405


@pytest.mark.parametrize(
    "token",
    [
        "nonsense",
        "IkFMUEhBLTAwMDEi:forgedsignature",  # base64 of "ALPHA-0001" with a made-up signature
    ],
)
def test_forged_tokens_are_404(client, voucher_a, token):
    # when
    qr = client.get(f"/p/alpha/m/c/{token}/qr.png")
    bar = client.get(f"/p/alpha/m/c/{token}/barcode.png")

    # then
    assert qr.status_code == 404
    assert bar.status_code == 404
    assert not qr.content.startswith(PNG_SIGNATURE)


def test_a_tampered_token_is_404(client, voucher_a, partner_a):
    # given: a valid token whose payload is swapped for another code's
    token = code_token("ALPHA-0001", schema_name=partner_a.schema_name)
    other = code_token("ALPHA-0002", schema_name=partner_a.schema_name)
    tampered = other.split(":")[0] + ":" + token.split(":")[1]

    # when
    response = client.get(f"/p/alpha/m/c/{tampered}/qr.png")

    # then
    assert response.status_code == 404


def test_another_partners_token_is_404_even_for_the_same_code(client, voucher_a, partner_b):
    # given: beta has a code with the same text; the token was made for alpha
    with schema_context(partner_b.schema_name):
        VoucherFactory(code="ALPHA-0001")
    token = code_token("ALPHA-0001", schema_name="p_alpha")

    # when
    under_beta = client.get(f"/p/beta/m/c/{token}/qr.png")
    under_alpha = client.get(f"/p/alpha/m/c/{token}/qr.png")

    # then
    assert under_beta.status_code == 404
    assert under_alpha.status_code == 200
    assert code_from_token(token, schema_name="p_beta") is None


def test_a_code_that_no_longer_exists_is_404(client, voucher_a, partner_a):
    # given
    token = code_token("ALPHA-0001", schema_name=partner_a.schema_name)
    with schema_context(partner_a.schema_name):
        voucher_a.delete()

    # when
    response = client.get(f"/p/alpha/m/c/{token}/barcode.png")

    # then
    assert response.status_code == 404


def test_a_code_without_a_code128_form_has_a_qr_but_no_barcode(client, partner_a):
    # given
    with schema_context(partner_a.schema_name):
        VoucherFactory(code="ÉTÉ-2026")
    token = code_token("ÉTÉ-2026", schema_name=partner_a.schema_name)

    # when
    qr = client.get(f"/p/alpha/m/c/{token}/qr.png")
    bar = client.get(f"/p/alpha/m/c/{token}/barcode.png")

    # then
    assert qr.status_code == 200
    assert bar.status_code == 404


def test_the_preview_code_is_served_without_a_voucher(client, partner_a, settings):
    # given: previews use a sample code that is not in the pool
    urls = voucher_image_urls(SAMPLE_CODE, partner=partner_a)

    # when
    response = client.get(_path(urls["barcode_url"], settings))

    # then
    assert response.status_code == 200
    assert response.content.startswith(PNG_SIGNATURE)
