"""Twilio webhooks, mounted at /p/<slug>/hooks/twilio/ (URL names `hooks:twilio_status` and
`hooks:twilio_inbound`; both verify X-Twilio-Signature)."""

from django.urls import path

from apps.messaging.webhooks.twilio import twilio_inbound, twilio_status_callback

urlpatterns = [
    path("status/", twilio_status_callback, name="twilio_status"),
    path("inbound/", twilio_inbound, name="twilio_inbound"),
]
