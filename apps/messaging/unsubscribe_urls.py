"""Unsubscribe links."""

urlpatterns: list = []
