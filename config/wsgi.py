"""WSGI entry point for gunicorn (Procfile `web`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
# The web process: its statements get the web time bound (DB_STATEMENT_TIMEOUT_MS), not a job's.
os.environ.setdefault("PROCESS_KIND", "web")
application = get_wsgi_application()
