"""The /v1 HTTP API (Voucherify-compatible subset, ARCHITECTURE section 7)."""

app_name = "api"

urlpatterns: list = []
