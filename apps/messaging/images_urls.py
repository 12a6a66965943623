"""QR code and barcode images of a code, under /p/<slug>/m/c/ (URL names hooks:code_qr and
hooks:code_barcode): opened by email clients without a session, the signed token is the
credential (see apps.messaging.images)."""

from django.urls import path

from apps.messaging import images

urlpatterns = [
    path("<str:token>/qr.png", images.code_qr_view, name="code_qr"),
    path("<str:token>/barcode.png", images.code_barcode_view, name="code_barcode"),
]
