"""One adapter per channel behind one small interface (base.py). `adapter_for()` picks the
adapter for a channel account, or the sandbox when the channel has no account."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.module_loading import import_string

from apps.messaging.adapters.base import Adapter
from apps.messaging.adapters.sandbox import SandboxAdapter
from apps.messaging.crypto import decrypt_secrets

if TYPE_CHECKING:
    from apps.messaging.models import ChannelAccount

ADAPTERS = {
    "email": "apps.messaging.adapters.email.EmailAdapter",
    "sms": "apps.messaging.adapters.twilio_sms.TwilioSmsAdapter",
    "mailchimp": "apps.messaging.adapters.mailchimp.MailchimpAdapter",
    "intercom": "apps.messaging.adapters.intercom.IntercomAdapter",
}


def adapter_for(channel: str, account: ChannelAccount | None) -> Adapter:
    """The adapter that delivers `channel` messages: the real one when an account is
    connected, the sandbox otherwise."""

    if account is None:
        return SandboxAdapter(channel)
    cls = import_string(ADAPTERS[channel])
    return cls(config=dict(account.config), secrets=decrypt_secrets(account.secrets_encrypted))
