"""Merchant pages under /p/<partner>/: the redemption form and the merchant's own history."""

from django.urls import path

from apps.tenancy import views as portal

app_name = "redemptions"

urlpatterns = [
    path("redeem/", portal.merchant_home, name="redeem"),
]
