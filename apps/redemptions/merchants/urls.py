"""Partner pages under /p/<partner>/merchants/: merchant accounts, their API keys and numbers."""

from django.urls import path

from apps.redemptions.merchants import views

app_name = "merchants"

urlpatterns = [
    path("", views.merchant_list_view, name="list"),
    path("new/", views.merchant_create_view, name="create"),
    path("keys/", views.partner_keys_view, name="partner_keys"),
    path("keys/new/", views.partner_key_create, name="partner_key_create"),
    path("keys/<int:key_id>/revoke/", views.partner_key_revoke, name="partner_key_revoke"),
    path("redemptions/", views.redemption_numbers, name="redemptions"),
    path("redemptions/attempts.csv", views.attempts_export, name="attempts_export"),
    path("<int:merchant_id>/", views.merchant_detail, name="detail"),
    path("<int:merchant_id>/edit/", views.merchant_edit, name="edit"),
    path("<int:merchant_id>/invite/", views.merchant_invite, name="invite"),
    path("<int:merchant_id>/keys/new/", views.merchant_key_create, name="key_create"),
    path(
        "<int:merchant_id>/keys/<int:key_id>/revoke/",
        views.merchant_key_revoke,
        name="key_revoke",
    ),
]
