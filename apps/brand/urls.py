from django.urls import path

from apps.brand import views
from apps.core.views import job_progress

app_name = "brand"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("partners/", views.partner_list, name="partner_list"),
    path("partners/new/", views.partner_create_view, name="partner_create"),
    path("partners/<slug:partner_slug>/", views.partner_detail, name="partner_detail"),
    path("jobs/<uuid:job_id>/", job_progress, name="job"),
]
