"""Partner portal: channel accounts and the outbox, under /p/<slug>/channels/."""

from django.urls import path

from apps.messaging import views

app_name = "channels"

urlpatterns = [
    path("", views.channel_list_view, name="list"),
    path("outbox/", views.outbox_view, name="outbox"),
    path("outbox/<int:message_id>/", views.message_detail_view, name="message"),
    path("<str:channel>/", views.channel_edit_view, name="edit"),
    path("<str:channel>/test/", views.channel_test_view, name="test"),
    path("<str:channel>/disconnect/", views.channel_disconnect_view, name="disconnect"),
    path("<str:channel>/send-test/", views.channel_send_test_view, name="send_test"),
]
