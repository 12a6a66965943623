"""From message templates to outbox drafts: render one channel's content for one customer and
code, with the headers and payload that channel needs.

The send engine (apps.messaging.sending) calls it for every row queued from a template (a
distribution's messages and reminders, rendered when the row is claimed), and the one-off
senders (the "send a test" form, the demo) call it before `outbox_queue`; nobody builds a
`Draft` by hand for a customer. Templates are validated at compose time (see templating.py);
rendering here refuses an invalid one rather than sending a blank."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apps.campaigns.models import Voucher
from apps.customers.models import Customer
from apps.messaging.models import Channel, ChannelAccount
from apps.messaging.sanitize import html_to_text
from apps.messaging.services import Draft
from apps.messaging.templating import message_context, render
from apps.messaging.unsubscribe import email_headers, unsubscribe_url
from apps.tenancy.models import Partner


@dataclass
class ChannelContent:
    """What a partner wrote for one channel.

    - email: `subject` and `html` (templates); the plain-text part is derived from the HTML;
    - sms: `text`;
    - mailchimp: `merge_field` (empty: the account's) receives the code;
    - intercom: `attribute` (empty: the account's) receives the code, `text` is an optional
      message."""

    subject: str = ""
    html: str = ""
    text: str = ""
    merge_field: str = ""
    attribute: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChannelContent:
        return cls(**{k: str(v) for k, v in data.items() if k in cls.__dataclass_fields__})


def compose(
    *,
    channel: str,
    content: ChannelContent,
    customer: Customer,
    voucher: Voucher | None,
    partner: Partner,
    account: ChannelAccount | None = None,
    distribution_id: int | None = None,
    reminder_index: int = 0,
    dedupe_key: str | None = None,
) -> Draft:
    """One rendered draft for `customer` on `channel`."""
    unsubscribe = unsubscribe_url(
        customer.pk, "sms" if channel == Channel.SMS else "email", partner=partner
    )
    context = message_context(
        customer=customer, voucher=voucher, partner=partner, unsubscribe_url=unsubscribe
    )
    draft = Draft(
        channel=channel,
        customer=customer,
        voucher_id=voucher.pk if voucher else None,
        distribution_id=distribution_id,
        reminder_index=reminder_index,
        dedupe_key=dedupe_key,
    )
    code = voucher.code if voucher else ""
    config = account.config if account else {}
    if channel == Channel.EMAIL:
        draft.subject = render(content.subject, context, html=False).strip()
        draft.body_html = render(content.html, context, html=True)
        draft.body_text = html_to_text(draft.body_html)
        draft.payload = {"headers": email_headers(customer.pk, partner=partner)}
    elif channel == Channel.SMS:
        draft.body_text = render(content.text, context, html=False).strip()
    elif channel == Channel.MAILCHIMP:
        first, _, last = (customer.name or "").partition(" ")
        draft.payload = {
            "merge_field": content.merge_field or config.get("merge_field", "COUPON"),
            "value": code,
            "merge_fields": {"FNAME": first, "LNAME": last.strip()},
        }
    elif channel == Channel.INTERCOM:
        message = render(content.text, context, html=False).strip() if content.text else ""
        draft.body_text = message
        draft.payload = {
            "attribute": content.attribute or config.get("attribute", "coupon_code"),
            "value": code,
            "message": message,
        }
    else:
        raise ValueError(f"unknown channel {channel!r}")
    return draft
