"""Partner pages under /p/<partner>/customers/: customers, their orders, events and codes."""

app_name = "customers"

urlpatterns: list = []
