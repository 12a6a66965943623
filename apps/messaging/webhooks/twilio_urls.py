"""twilio webhooks."""

urlpatterns: list = []
