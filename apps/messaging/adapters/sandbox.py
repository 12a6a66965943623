"""The sandbox: what a channel without a connected account does. Nothing leaves the
machine; the outbox row keeps the rendered message and the provider calls that would have been
made, and the partner portal's Outbox page shows them."""

from __future__ import annotations

import uuid
from typing import Any

from apps.messaging.adapters.base import BaseAdapter, OutgoingMessage, SendResult
from apps.messaging.sms import sms_segments


class SandboxAdapter(BaseAdapter):
    def __init__(self, channel: str) -> None:
        super().__init__(config={}, secrets={})
        self.channel = channel

    def send(self, message: OutgoingMessage) -> SendResult:
        return SendResult(
            provider_id=f"sandbox-{uuid.uuid4().hex[:16]}",
            status="sent",
            detail={"sandbox": True, "calls": self.calls(message)},
        )

    def calls(self, message: OutgoingMessage) -> list[dict[str, Any]]:
        """The provider calls a connected account would make, for the Outbox page."""
        if self.channel == "email":
            return [
                {
                    "call": "SMTP send",
                    "to": message.to,
                    "subject": message.subject,
                    "headers": message.headers,
                }
            ]
        if self.channel == "sms":
            encoding, segments = sms_segments(message.text)
            return [
                {
                    "call": "twilio.messages.create",
                    "to": message.to,
                    "body": message.text,
                    "segments": segments,
                    "encoding": encoding,
                    "status_callback": message.status_callback,
                }
            ]
        if self.channel == "mailchimp":
            field_name = message.payload.get("merge_field", "")
            return [
                {
                    "call": "lists.set_list_member",
                    "email_address": message.to,
                    "merge_fields": {
                        **message.payload.get("merge_fields", {}),
                        field_name: message.payload.get("value", ""),
                    },
                }
            ]
        if self.channel == "intercom":
            calls: list[dict[str, Any]] = [
                {"call": "contacts.search / contacts.create", "email": message.to},
                {
                    "call": "contacts.update",
                    "custom_attributes": {
                        message.payload.get("attribute", ""): message.payload.get("value", "")
                    },
                },
            ]
            if message.payload.get("message"):
                calls.append({"call": "messages.create", "body": message.payload["message"]})
            return calls
        return []

    def test_connection(self) -> str:
        return "Sandbox: messages are kept in the Outbox and not sent."
