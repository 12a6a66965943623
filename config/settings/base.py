"""Settings shared by every environment. Everything that differs between machines comes from
the environment (see README "Configuration")."""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF

from config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent

SECRET_KEY = env_str("SECRET_KEY", "insecure-local-development-key-change-me")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# --- Tenancy (ARCHITECTURE section 3) ----------------------------------------------------------
SHARED_APPS = [
    "django_tenants",
    "apps.core",
    "apps.tenancy",
    "apps.accounts",
    "apps.brand",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_rq",
    "django_htmx",
    "template_partials",
    "guardian",
]
TENANT_APPS = [
    # Object permissions inside a partner schema (which campaigns a merchant may redeem...).
    "guardian",
    "apps.campaigns",
    "apps.customers",
    "apps.messaging",
    "apps.distributions",
    "apps.redemptions",
    "apps.api",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenancy.Partner"
TENANT_DOMAIN_MODEL = "tenancy.Domain"
PUBLIC_SCHEMA_NAME = "public"
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
# Issue `SET search_path` only when the schema changes, not before every query: it halves
# the round trips of a redemption (bench/redeem). Safe: set_tenant() and rollbacks reset it.
TENANT_LIMIT_SET_CALLS = True
# Prefix of the partner portal: /p/<partner-slug>/...
PARTNER_URL_PREFIX = "p"

MIDDLEWARE = [
    # Control characters in the path or query string: refused before anything reads them.
    "apps.core.inputs.InputCharactersMiddleware",
    "apps.tenancy.middleware.PartnerRoutingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The partner gate: before CommonMiddleware, whose APPEND_SLASH redirect would otherwise
    # tell a stranger that a partner's page exists (see apps/accounts/middleware.py).
    "apps.accounts.middleware.RoleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.core.timeouts.StatementTimeoutMiddleware",
]

ROOT_URLCONF = "config.urls"
PARTNER_URLCONF = "config.urls_partner"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.accounts.context_processors.navigation",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]

# --- Data stores -------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/coupons"),
        engine="django_tenants.postgresql_backend",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
# Short set-based statements: PostgreSQL's JIT misjudges them (planner estimates in the millions
# for a 10,000-row batch) and spends ~2 s compiling what runs in milliseconds (bench/fanout).
#
# Time bounds: no statement of a web request or an API call runs past DB_STATEMENT_TIMEOUT_MS;
# it is cancelled and answered with a clear 503 (apps/core/timeouts.py) instead of holding a
# worker. Jobs and management commands (migrations, imports, fan-out) get the longer
# DB_JOB_STATEMENT_TIMEOUT_MS. The web server's entry point (config/wsgi.py, gunicorn) marks its
# process "web"; every other process is a job. Set on the connection, so it costs no round trip.
PROCESS_KIND = env_str("PROCESS_KIND", "job")
STATEMENT_TIMEOUT_MS = (
    env_int("DB_STATEMENT_TIMEOUT_MS", 20_000)
    if PROCESS_KIND == "web"
    else env_int("DB_JOB_STATEMENT_TIMEOUT_MS", 3_600_000)
)
DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
    f"-c jit=off -c statement_timeout={STATEMENT_TIMEOUT_MS}"
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "coupons"),
    }
}
RQ_QUEUES = {
    name: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": timeout}
    for name, timeout in (("high", 300), ("default", 1800), ("low", 3600))
}
RQ_SHOW_ADMIN_LINK = False

# --- Identity ----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Our users log in by email; guardian's anonymous user row is not needed.
ANONYMOUS_USER_NAME = None
GUARDIAN_RENDER_403 = False
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login throttling: failures allowed per email and per address inside the window.
LOGIN_THROTTLE_FAILURES = env_int("LOGIN_THROTTLE_FAILURES", 5)
LOGIN_THROTTLE_WINDOW = env_int("LOGIN_THROTTLE_WINDOW", 900)
# Wrong codes tried by one API key, merchant or address before it must wait for the window.
GUESS_THROTTLE_FAILURES = env_int("GUESS_THROTTLE_FAILURES", 20)
GUESS_THROTTLE_WINDOW = env_int("GUESS_THROTTLE_WINDOW", 600)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): only our own, vendored files run or style a page; no
# inline script or style, no eval (htmx's hx-on and its injected indicator style are off, see
# templates/base.html), no plugins, no framing, forms post only here.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],  # Chart.js and Quill draw some icons as data: URIs
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- Email -------------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 15)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Coupons <no-reply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Static files ------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT: Path | None = BASE_DIR / ".data" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "rq.worker": {"level": "INFO"},
        # The Twilio SDK logs every request at INFO (without secrets); keep only problems.
        "twilio.http_client": {"level": "WARNING"},
    },
}

PRODUCT_NAME = env_str("PRODUCT_NAME", "Coupon Hub")

# --- Channels (apps.messaging) -----------------------------------------------------------------
# Absolute address of this site, for links built outside a request: unsubscribe links and code
# images in emails, Twilio status callbacks, webhook URLs shown to partners.
SITE_URL = env_str("SITE_URL", "http://localhost:8000").rstrip("/")
# Fernet keys (urlsafe base64 of 32 bytes) encrypting provider credentials at rest. The first
# encrypts, every one decrypts: rotate by putting a new key first. Unset outside production: a
# key derived from SECRET_KEY (config/settings/production.py refuses to start without one).
CHANNEL_SECRET_KEYS = env_list("CHANNEL_SECRET_KEYS")
# An address for "mailto:" unsubscribe requests, offered in List-Unsubscribe besides the
# one-click link (some mail clients only offer mailto); empty: link only.
UNSUBSCRIBE_MAILTO = env_str("UNSUBSCRIBE_MAILTO", "")
# Seconds before a provider call gives up (connect and read); a timeout is retried.
MESSAGING_TIMEOUT = env_int("MESSAGING_TIMEOUT", 10)
# A send job claims this many messages at a time and sends them over one connection.
MESSAGING_BATCH_SIZE = env_int("MESSAGING_BATCH_SIZE", 100)
# Send jobs started per channel when messages are queued (more workers drain faster).
MESSAGING_SEND_CONCURRENCY = env_int("MESSAGING_SEND_CONCURRENCY", 2)
# Attempts before a retryable failure becomes final; backoff doubles from MESSAGING_RETRY_BASE s.
MESSAGING_MAX_ATTEMPTS = env_int("MESSAGING_MAX_ATTEMPTS", 5)
MESSAGING_RETRY_BASE = env_int("MESSAGING_RETRY_BASE", 30)
# Provider API addresses; empty means the provider's own. Tests point them at local fakes.
TWILIO_API_BASE_URL = env_str("TWILIO_API_BASE_URL", "")
MAILCHIMP_API_BASE_URL = env_str("MAILCHIMP_API_BASE_URL", "")
INTERCOM_API_BASE_URL = env_str("INTERCOM_API_BASE_URL", "")
