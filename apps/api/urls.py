"""The /v1 HTTP API (Voucherify-compatible subset, ARCHITECTURE section 7). See docs/api.md.

Voucherify's client-side variants (/client/v1/validations, /client/v1/redemptions, sent with
X-Client-Application-Id / X-Client-Token publishable keys from a browser) are not offered:
every key here is secret and belongs on a server or a till."""

from django.urls import path

from apps.api import customers as customer_views
from apps.api import orders as order_views
from apps.api import publications as publication_views
from apps.api import views

app_name = "api"

urlpatterns = [
    path("validations", views.validations, name="validations"),
    path("redemptions", views.redemptions, name="redemptions"),
    path("redemptions/<str:redemption_id>", views.redemption_detail, name="redemption_detail"),
    path(
        "redemptions/<str:redemption_id>/rollback",
        views.redemption_rollback_view,
        name="redemption_rollback",
    ),
    path("vouchers", views.vouchers, name="vouchers"),
    path("vouchers/<str:code>", views.voucher_detail, name="voucher_detail"),
]

# Orders, custom events and publications (issue 4).
urlpatterns += [
    path("orders", order_views.orders, name="orders"),
    path("events", order_views.events, name="events"),
    path("publications", publication_views.publications, name="publications"),
]

# Customers (issue 4): upsert and read.
urlpatterns += [
    path("customers", customer_views.customers, name="customers"),
    path("customers/<str:customer_id>", customer_views.customer_detail, name="customer_detail"),
]
