from django.urls import path

from apps.brand import views
from apps.core.views import job_progress

app_name = "brand"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("export.csv", views.dashboard_export, name="dashboard_export"),
    path("partners/", views.partner_list, name="partner_list"),
    path("partners/new/", views.partner_create_view, name="partner_create"),
    path("partners/<slug:partner_slug>/", views.partner_detail, name="partner_detail"),
    path("programs/", views.program_list, name="program_list"),
    path("programs/new/", views.program_create_view, name="program_create"),
    path("programs/preview/", views.program_preview, name="program_preview"),
    path("programs/<int:program_id>/", views.program_detail, name="program_detail"),
    path("programs/<int:program_id>/edit/", views.program_edit, name="program_edit"),
    path("allocations/", views.allocation_list, name="allocation_list"),
    path("allocations/new/", views.allocation_create_view, name="allocation_create"),
    path("allocations/<int:allocation_id>/", views.allocation_detail, name="allocation_detail"),
    path("jobs/<uuid:job_id>/", job_progress, name="job"),
]
