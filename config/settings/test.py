"""The test suite: real PostgreSQL and Redis from DATABASE_URL / REDIS_URL."""

from config.settings.base import *  # noqa: F401,F403
from config.settings.base import CACHES

DEBUG = False
SECRET_KEY = "test-secret-key-not-for-production-000000000000000000"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
ALLOWED_HOSTS = ["*"]
# Keep test keys apart from a developer's running instance on the same Redis.
CACHES["default"]["KEY_PREFIX"] = "coupons-test"

# Served from the source folders through finders; collectstatic is for production.
STATIC_ROOT = None
