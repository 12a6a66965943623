"""QR code and barcode images of a code."""

urlpatterns: list = []
