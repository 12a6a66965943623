"""Composing a customer's message per channel: rendered content, unsubscribe headers, the
code in the MailChimp merge field and the Intercom attribute; an invalid template is refused."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from apps.customers.models import Customer
from apps.messaging.compose import ChannelContent, compose
from apps.messaging.models import OutboxMessage
from apps.messaging.sending import outbox_send
from apps.messaging.services import outbox_queue
from apps.messaging.templating import TemplateError
from tests.factories import VoucherFactory


@pytest.fixture
def ann(partner_a):
    with schema_context(partner_a.schema_name):
        yield Customer.objects.create(
            name="Ann Lee",
            email="ann@example.test",
            phone="+14155550100",
            email_consent=True,
            sms_consent=True,
        )


def test_email_is_rendered_with_text_part_and_unsubscribe_headers(ann, in_partner):
    # given
    voucher = VoucherFactory(code="WELCOME-AAAA-BBBB")
    content = ChannelContent(
        subject="{{ customer.first_name }}, your code",
        html="<p>Hi {{ customer.first_name }}, use <b>{{ voucher.code }}</b>.</p>"
        '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
    )
    # when
    draft = compose(
        channel="email", content=content, customer=ann, voucher=voucher, partner=in_partner
    )
    # then
    assert draft.subject == "Ann, your code"
    assert "<b>WELCOME-AAAA-BBBB</b>" in draft.body_html
    assert "Hi Ann, use WELCOME-AAAA-BBBB." in draft.body_text
    headers = draft.payload["headers"]
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/p/alpha/m/u/" in headers["List-Unsubscribe"]
    assert draft.voucher_id == voucher.pk


def test_sms_mailchimp_and_intercom_carry_the_code(ann, in_partner):
    # given
    voucher = VoucherFactory(code="WELCOME-CCCC-DDDD")
    content = ChannelContent(text="{{ partner.name }}: {{ voucher.code }}")
    # when
    sms = compose(channel="sms", content=content, customer=ann, voucher=voucher, partner=in_partner)
    chimp = compose(
        channel="mailchimp",
        content=ChannelContent(merge_field="PROMO"),
        customer=ann,
        voucher=voucher,
        partner=in_partner,
    )
    intercom = compose(
        channel="intercom", content=content, customer=ann, voucher=voucher, partner=in_partner
    )
    # then
    assert sms.body_text == "Alpha Retail: WELCOME-CCCC-DDDD"
    assert chimp.payload["merge_field"] == "PROMO"
    assert chimp.payload["value"] == "WELCOME-CCCC-DDDD"
    assert chimp.payload["merge_fields"] == {"FNAME": "Ann", "LNAME": "Lee"}
    assert intercom.payload == {
        "attribute": "coupon_code",
        "value": "WELCOME-CCCC-DDDD",
        "message": "Alpha Retail: WELCOME-CCCC-DDDD",
    }


def test_composed_drafts_go_through_the_sandbox(ann, in_partner):
    # given
    voucher = VoucherFactory(code="WELCOME-EEEE-FFFF")
    drafts = [
        compose(
            channel=channel,
            content=ChannelContent(
                subject="s", html="<p>{{ voucher.code }}</p>", text="{{ voucher.code }}"
            ),
            customer=ann,
            voucher=voucher,
            partner=in_partner,
        )
        for channel in ("email", "sms", "mailchimp", "intercom")
    ]
    outbox_queue(drafts)
    # when
    for channel in ("email", "sms", "mailchimp", "intercom"):
        outbox_send(channel)
    # then
    rows = OutboxMessage.objects.order_by("channel")
    assert [(m.channel, m.status, m.sandbox) for m in rows] == [
        ("email", "sent", True),
        ("intercom", "sent", True),
        ("mailchimp", "sent", True),
        ("sms", "sent", True),
    ]
    email = rows[0]
    assert email.result["calls"][0]["headers"]["List-Unsubscribe-Post"]


def test_an_unknown_merge_tag_is_refused_not_blank(ann, in_partner):
    # when / then
    with pytest.raises(TemplateError):
        compose(
            channel="sms",
            content=ChannelContent(text="Hi {{ customer.nme }}"),
            customer=ann,
            voucher=None,
            partner=in_partner,
        )
