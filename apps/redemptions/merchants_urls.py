"""Partner pages under /p/<partner>/merchants/: merchant accounts, their API keys and numbers."""

app_name = "merchants"

urlpatterns: list = []
