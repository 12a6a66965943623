"""Public URLs: the brand console, sign-in, the health check the /v1 API.
Partner portal URLs are in config/urls_partner.py, mounted at /p/<slug>/ per request."""

from django.urls import include, path

from apps.accounts.views import home
from apps.core.views import healthz

urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("accounts/", include("apps.accounts.urls")),
    path("brand/", include("apps.brand.urls")),
    path("v1/", include("apps.api.urls")),
]

handler403 = "apps.core.views.error_403"
handler404 = "apps.core.views.error_404"
handler500 = "apps.core.views.error_500"
