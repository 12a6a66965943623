"""mailchimp webhooks."""

urlpatterns: list = []
