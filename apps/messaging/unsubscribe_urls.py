"""Unsubscribe links, under /p/<slug>/m/u/ (URL names in the "hooks" namespace)."""

from django.urls import path

from apps.messaging.unsubscribe import unsubscribe_view

urlpatterns = [
    path("<str:token>/", unsubscribe_view, name="unsubscribe"),
]
