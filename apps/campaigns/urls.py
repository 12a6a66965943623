"""Partner pages under /p/<partner>/campaigns/: campaigns and their codes (read-only)."""

from django.urls import path

from apps.campaigns import views

app_name = "campaigns"

urlpatterns = [
    path("", views.campaign_list_view, name="list"),
    path("<int:campaign_id>/", views.campaign_detail, name="detail"),
    path("<int:campaign_id>/codes.csv", views.campaign_export, name="export"),
    path("<int:campaign_id>/edit/", views.campaign_edit, name="edit"),
]
