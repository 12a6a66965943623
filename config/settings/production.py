"""Production: everything from the environment, HTTPS only, hashed static files."""

from django.core.exceptions import ImproperlyConfigured

from config.settings.base import *  # noqa: F401,F403
from config.settings.base import CHANNEL_SECRET_KEYS, env_bool, env_int, env_str

DEBUG = False
SECRET_KEY = env_str("SECRET_KEY")  # no default: refuse to start without one
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True

if not CHANNEL_SECRET_KEYS:
    raise ImproperlyConfigured(
        "Set CHANNEL_SECRET_KEYS to a Fernet key (python -c 'from cryptography.fernet import "
        "Fernet; print(Fernet.generate_key().decode())'); it encrypts provider credentials."
    )
