"""URLs of the distributions pages (mounted at /p/<slug>/distributions/): the wizard's routes
(wizard_urls.py) plus the list, the detail page with its metrics fragment, and the actions on
a distribution."""

from django.urls import include, path

from apps.distributions import views

app_name = "distributions"

urlpatterns = [
    path("", include("apps.distributions.wizard.urls")),
    path("", views.distribution_list_view, name="list"),
    path("export.csv", views.distribution_export, name="export"),
    path("<int:distribution_id>/", views.distribution_detail, name="detail"),
    path("<int:distribution_id>/metrics/", views.distribution_metrics_view, name="metrics"),
    path("<int:distribution_id>/pause/", views.distribution_pause_view, name="pause"),
    path("<int:distribution_id>/resume/", views.distribution_resume_view, name="resume"),
    path("<int:distribution_id>/archive/", views.distribution_archive_view, name="archive"),
    path("<int:distribution_id>/duplicate/", views.distribution_duplicate_view, name="duplicate"),
    path("<int:distribution_id>/delete/", views.distribution_delete_view, name="delete"),
]
