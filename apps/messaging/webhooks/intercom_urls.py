"""Intercom webhook, mounted at /p/<slug>/hooks/intercom/ (URL name `hooks:intercom`; the
request is signed with the app's client secret)."""

from django.urls import path

from apps.messaging.webhooks.intercom import intercom_webhook

urlpatterns = [
    path("", intercom_webhook, name="intercom"),
]
