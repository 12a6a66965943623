"""Partner pages under /p/<partner>/customers/: customers, their orders, events and codes."""

from django.urls import path

from apps.customers import views

app_name = "customers"

urlpatterns = [
    path("", views.customer_list_view, name="list"),
    path("export.csv", views.customer_export, name="export"),
    path("new/", views.customer_create_view, name="create"),
    path("<int:customer_id>/", views.customer_detail_view, name="detail"),
    path("<int:customer_id>/edit/", views.customer_edit, name="edit"),
    path("imports/", views.import_list, name="import_list"),
    path("imports/new/", views.import_create, name="import_create"),
    path("imports/<int:import_id>/", views.import_detail, name="import_detail"),
    path("imports/<int:import_id>/mapping/", views.import_mapping, name="import_mapping"),
    path("imports/<int:import_id>/errors.csv", views.import_errors, name="import_errors"),
]

# "Publish a code" on the customer page (apps/customers/publish_views.py).
from apps.customers import publish_views  # noqa: E402

urlpatterns += [
    path("<int:customer_id>/publish/", publish_views.customer_publish, name="publish"),
]
