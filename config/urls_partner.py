"""Partner portal and merchant URLs, served under /p/<partner-slug>/ in the partner's schema."""

from django.urls import include, path

from apps.core.views import job_progress
from apps.tenancy import views as portal

portal_patterns = [
    path("", portal.portal_home, name="home"),
    path("redeem/", portal.merchant_home, name="merchant_home"),
    path("jobs/<uuid:job_id>/", job_progress, name="job"),
]

urlpatterns = [
    path("", include((portal_patterns, "portal"))),
]
