"""Production: every secret from the environment, HTTPS only, Redis cache."""

from .base import *  # noqa: F403
from .base import client_address_settings, env

DEBUG = False
SECRET_KEY = env("SECRET_KEY")  # required: no default in production
# required: the Fernet key(s) of stored Salesforce client secrets (docs/salesforce.md)
FIELD_ENCRYPTION_KEY = env("FIELD_ENCRYPTION_KEY")
SALESFORCE_ALLOW_LOOPBACK_HTTP = False
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
CACHES = {"default": env.cache("CACHE_URL", default="redis://127.0.0.1:6379/1")}

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = False
WHITENOISE_AUTOREFRESH = False

# --- Security (docs/security.md) ----------------------------------------------------
# Behind one reverse proxy unless AXES_PROXY_COUNT says otherwise: the client address for
# the login lockout is the last hop the proxy appended to X-Forwarded-For.
AXES_IPWARE_PROXY_COUNT, AXES_IPWARE_META_PRECEDENCE_ORDER = client_address_settings(
    env.int("AXES_PROXY_COUNT", default=1)
)
LANGUAGE_COOKIE_SECURE = True
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"

# One JSON object a line unless LOG_FORMAT=text (pse_crm/logs.py).
LOG_FORMAT = env("LOG_FORMAT", default="json")
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT  # noqa: F405
