"""Partner portal and merchant URLs, served under /p/<partner-slug>/ in the partner's schema."""

from django.urls import include, path

from apps.accounts import views as portal
from apps.core.views import job_progress

portal_patterns = [
    path("", portal.portal_home, name="home"),
    path("jobs/<uuid:job_id>/", job_progress, name="job"),
]

urlpatterns = [
    path("", include((portal_patterns, "portal"))),
    path("", include("apps.redemptions.urls")),
    path("campaigns/", include("apps.campaigns.urls")),
    path("merchants/", include("apps.redemptions.merchants.urls")),
    path("customers/", include("apps.customers.urls")),
    path("segments/", include("apps.customers.segments.urls")),
    path("distributions/", include("apps.distributions.urls")),
    path("channels/", include("apps.messaging.urls")),
    path("", include("apps.messaging.urls_hooks")),
]
