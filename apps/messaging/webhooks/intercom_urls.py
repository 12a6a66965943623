"""intercom webhooks."""

urlpatterns: list = []
