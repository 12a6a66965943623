"""Links inside messages, opened by recipients without a session: unsubscribe, code images."""

from django.urls import include, path

urlpatterns = [
    path("u/", include("apps.messaging.unsubscribe_urls")),
    path("c/", include("apps.messaging.images_urls")),
]
