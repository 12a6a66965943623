"""URLs of the distribution wizard (included by apps/distributions/urls.py under the
"distributions" namespace, at /p/<slug>/distributions/)."""

from django.urls import path

from apps.distributions.wizard import audience as wizard_audience
from apps.distributions.wizard import messages as wizard_messages
from apps.distributions.wizard import views as wizard_views

urlpatterns = [
    path("new/", wizard_views.wizard_new, name="new"),
    path("<int:distribution_id>/step/<int:step>/", wizard_views.wizard_step, name="wizard"),
    path("<int:distribution_id>/review/", wizard_views.wizard_review, name="review"),
    path("<int:distribution_id>/launch/", wizard_views.wizard_launch, name="launch"),
    # Fragments (htmx), with the same capability as the pages.
    path("<int:distribution_id>/preview/", wizard_messages.wizard_preview, name="preview"),
    path(
        "<int:distribution_id>/audience-count/",
        wizard_audience.wizard_audience_count,
        name="audience_count",
    ),
    path("<int:distribution_id>/pool/", wizard_audience.wizard_pool, name="pool"),
]
