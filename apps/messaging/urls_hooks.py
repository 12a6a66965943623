"""Provider callbacks and recipients' links, under /p/<slug>/hooks/ and /p/<slug>/m/: no
session; each view verifies a signature, a secret in the URL or a signed token."""

from django.urls import include, path

app_name = "hooks"

urlpatterns = [
    path("hooks/twilio/", include("apps.messaging.webhooks.twilio_urls")),
    path("hooks/mailchimp/", include("apps.messaging.webhooks.mailchimp_urls")),
    path("hooks/intercom/", include("apps.messaging.webhooks.intercom_urls")),
    path("m/", include("apps.messaging.links_urls")),
]
