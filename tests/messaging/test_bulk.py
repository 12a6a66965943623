"""Bulk queueing from a template: one INSERT … SELECT, consent and address decided in SQL,
idempotent by dedupe key, and the send job renders each row for its customer and code."""

from __future__ import annotations

from apps.customers.models import Customer
from apps.messaging.bulk import dedupe_key, outbox_insert_select, template_create
from apps.messaging.models import OutboxMessage
from apps.messaging.sending import outbox_send
from tests.factories import VoucherFactory

SOURCE = (
    "SELECT c.id, v.id FROM customers_customer c "
    "JOIN campaigns_voucher v ON v.code = 'B-' || c.source_id WHERE c.id = ANY(%(ids)s)"
)


def test_bulk_rows_are_rendered_when_sent_and_queued_once(in_partner):
    # given three customers with codes: one consenting, one not, one without address
    ann = Customer.objects.create(
        source_id="1", name="Ann Lee", email="ann@x.test", email_consent=True
    )
    bob = Customer.objects.create(source_id="2", email="bob@x.test", email_consent=False)
    cid = Customer.objects.create(source_id="3", name="Cid", email_consent=True)
    for customer in (ann, bob, cid):
        VoucherFactory(code=f"B-{customer.source_id}")
    template = template_create(
        channel="email",
        content={
            "subject": "Hi {{ customer.first_name }}",
            "html": "<p>{{ voucher.code }}</p>",
        },
    )
    params = {"ids": [ann.pk, bob.pk, cid.pk]}
    # when queued twice
    first = outbox_insert_select(
        template=template, source_sql=SOURCE, params=params, distribution_id=7
    )
    second = outbox_insert_select(
        template=template, source_sql=SOURCE, params=params, distribution_id=7
    )
    # then
    assert (first, second) == (3, 0)
    reasons = dict(OutboxMessage.objects.values_list("customer_id", "error_key"))
    assert reasons == {ann.pk: "", bob.pk: "no_consent", cid.pk: "no_address"}
    assert OutboxMessage.objects.get(customer=ann).dedupe_key == dedupe_key(7, ann.pk, "email", 0)
    # when the send job runs
    outbox_send("email")
    # then Ann's message was rendered for her and her code, and stored so
    message = OutboxMessage.objects.get(customer=ann)
    assert message.status == "sent" and message.sandbox
    assert message.subject == "Hi Ann"
    assert "<p>B-1</p>" in message.body_html and "B-1" in message.body_text
    assert message.payload["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.result["calls"][0]["subject"] == "Hi Ann"


def test_a_template_that_no_longer_renders_fails_with_a_reason(in_partner):
    # given a row queued from a template that is invalid (stored before validation)
    ann = Customer.objects.create(source_id="1", email="ann@x.test", email_consent=True)
    VoucherFactory(code="B-1")
    template = template_create(
        channel="email", content={"subject": "{{ customer.nme }}", "html": "x"}
    )
    outbox_insert_select(
        template=template, source_sql=SOURCE, params={"ids": [ann.pk]}, distribution_id=8
    )
    # when
    outbox_send("email")
    # then
    message = OutboxMessage.objects.get()
    assert (message.status, message.error_key) == ("failed", "invalid_template")
    assert "customer.nme" in message.last_error
