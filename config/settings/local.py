"""`make run`: a developer's machine. Static files straight from the source folders."""

from config.settings.base import *  # noqa: F401,F403
from config.settings.base import BASE_DIR, env_bool, env_str

DEBUG = env_bool("DEBUG", True)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Password-reset and other mail lands in files you can open.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = BASE_DIR / ".data" / "mail"

# Served from the source folders through finders; collectstatic is for production.
STATIC_ROOT = None

# Links in messages (unsubscribe, code images) point at this running server.
SITE_URL = env_str("SITE_URL", f"http://localhost:{env_str('PORT', '8000')}").rstrip("/")
