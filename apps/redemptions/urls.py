"""Merchant pages under /p/<partner>/: the redemption form and the merchant's own history."""

from django.urls import path

from apps.redemptions import views

app_name = "redemptions"

urlpatterns = [
    path("redeem/", views.redeem, name="redeem"),
    path("redeem/history/", views.history, name="history"),
    path(
        "redeem/history/<int:redemption_id>/rollback/",
        views.rollback,
        name="rollback",
    ),
]
