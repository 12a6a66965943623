"""MailChimp audience webhook, mounted at /p/<slug>/hooks/mailchimp/ (URL name
`hooks:mailchimp`, the secret token in the path)."""

from django.urls import path

from apps.messaging.webhooks.mailchimp import mailchimp_webhook

urlpatterns = [
    path("<str:token>/", mailchimp_webhook, name="mailchimp"),
]
