"""Partner pages under /p/<partner>/segments/: static and active segments, filter builder."""

from django.urls import path

from apps.customers.segments import views

app_name = "segments"

urlpatterns = [
    path("", views.segment_list, name="list"),
    path("new/", views.segment_create_view, name="create"),
    path("preview/", views.segment_preview, name="preview"),
    path("<int:segment_id>/", views.segment_detail, name="detail"),
    path("<int:segment_id>/edit/", views.segment_edit, name="edit"),
    path("<int:segment_id>/delete/", views.segment_delete_view, name="delete"),
    path("<int:segment_id>/evaluate/", views.segment_evaluate_view, name="evaluate"),
    path("<int:segment_id>/members/", views.segment_members_view, name="members_upload"),
]
