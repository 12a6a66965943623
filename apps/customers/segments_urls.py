"""Partner pages under /p/<partner>/segments/: static and active segments, filter builder."""

app_name = "segments"

urlpatterns: list = []
