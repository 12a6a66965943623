"""Partner pages under /p/<partner>/campaigns/: campaigns and their codes (read-only)."""

app_name = "campaigns"

urlpatterns: list = []
