"""Settings shared by every environment; each value comes from the environment.

See README.md ("Configuration") for the list of variables.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("SECRET_KEY", default="insecure-dev-key-change-me")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tables2",
    "import_export",
    # Ours, lowest layer first.
    "pse_crm.apps.PseCrmConfig",
    "partners.apps.PartnersConfig",
    "reps.apps.RepsConfig",
    "activities.apps.ActivitiesConfig",
    "enablement.apps.EnablementConfig",  # history: its migrations only
    "segmentation.apps.SegmentationConfig",
    "knowhow.apps.KnowhowConfig",
    "support.apps.SupportConfig",
    "deal_signals.apps.DealSignalsConfig",
    "momentum.apps.MomentumConfig",
    "web.apps.WebConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A query string or form body PostgreSQL cannot store: 400 before any view runs.
    "pse_crm.edge.UnstorableInputMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "pse_crm.rls.RLSUserMiddleware",
    "pse_crm.audit.AuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "pse_crm.middleware.TenantMiddleware",
]

ROOT_URLCONF = "pse_crm.urls"
WSGI_APPLICATION = "pse_crm.wsgi.application"
AUTH_USER_MODEL = "pse_crm.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "pse_crm.context_processors.tenancy",
                "deal_signals.context_processors.deal_signals",
            ],
        },
    },
]

# Database: SQLite for the demo unless DATABASE_URL names PostgreSQL (psycopg 3).
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Internationalisation: Japanese and English; the browser's language wins, a switcher overrides.
LANGUAGE_CODE = env("LANGUAGE_CODE", default="en")
LANGUAGES = [("en", _("English")), ("ja", _("Japanese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE", default="Asia/Tokyo")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Chart.js 4 comes from the npm registry (package.json) and is served from here, never a CDN.
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/chartjs", BASE_DIR / "node_modules" / "chart.js" / "dist"),
]

# Cache: local memory unless CACHE_URL is set (production settings require it).
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
# Absolute links in emails (deal-signal notifications and digests).
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="PSE CRM <noreply@pse-crm.local>")
# How long an invitation link works (pse_crm/services/invitations.py); resending renews it.
INVITATION_DAYS = env.int("INVITATION_DAYS", default=7)

# Celery: with no broker configured, tasks run in-process (the demo); otherwise a real worker.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="") or "memory://"
CELERY_TASK_ALWAYS_EAGER = env.bool(
    "CELERY_TASK_ALWAYS_EAGER", default=CELERY_BROKER_URL == "memory://"
)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=25 * 60)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Periodic work: each entry fans out one task per tenant; `expires` drops a stale run.
CELERY_BEAT_SCHEDULE = {
    "nightly-sweep": {
        "task": "momentum.tasks.nightly_sweep",
        # Hourly: the sweep picks the tenants whose local time is 02:00.
        "schedule": crontab(minute=0),
        "options": {"expires": 50 * 60},
    },
    "deal-signals-hourly": {
        "task": "deal_signals.tasks.deal_signals_hourly",
        # Expires stale signals; sends daily digests at 08:00 in each tenant's time zone.
        "schedule": crontab(minute=5),
        "options": {"expires": 50 * 60},
    },
    "worker-heartbeat": {
        "task": "pse_crm.tasks.worker_heartbeat",
        # A worker took a task within the minute: /readyz reads the stamp (pse_crm/health.py).
        "schedule": 60.0,
        "options": {"expires": 50},
    },
    "view-rollups-fold": {
        "task": "activities.tasks.view_rollups_fold_all",
        # The views stored since each tenant's mark, into its roll-ups (migration 0015 of
        # activities): the segmentation run reads the rest from the views themselves.
        "schedule": 5 * 60.0,
        "options": {"expires": 4 * 60, "queue": "segmentation"},
    },
    "salesforce-pull": {
        "task": "activities.tasks.salesforce_pull_all",
        # One pull per connected tenant (docs/salesforce.md); a pull still running is not
        # doubled (the tenant's lock), a stale one is dropped before the next.
        "schedule": crontab(minute="*/15"),
        "options": {"expires": 14 * 60, "queue": "salesforce"},
    },
    "salesforce-reconcile": {
        "task": "activities.tasks.salesforce_reconcile_all",
        # Hourly: the sweep picks the connected tenants whose local time is 03:00.
        "schedule": crontab(minute=40),
        "options": {"expires": 50 * 60, "queue": "salesforce"},
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "pse_crm.api.auth.BearerAPIKeyAuthentication",
        "pse_crm.api.auth.CsrfSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["pse_crm.api.auth.TenantRolePermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "pse_crm.api.auth.DefaultCursorPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["pse_crm.api.auth.PerKeyThrottle"],
    "DEFAULT_THROTTLE_RATES": {"per_key": env("API_THROTTLE_RATE", default="6000/min")},
    "EXCEPTION_HANDLER": "pse_crm.api.errors.exception_handler",
    # One JSON parser, bounded in size and depth (pse_crm/api/parsers.py); views that take
    # CSV add RawCSVParser. Form bodies are not API input: 415.
    "DEFAULT_PARSER_CLASSES": ["pse_crm.api.parsers.BoundedJSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
API_KEY_CUSTOM_HEADER = None

SPECTACULAR_SETTINGS = {
    "TITLE": "PSE CRM API",
    "DESCRIPTION": "Partner Sales Enablement: deals, material views, keymen, quick wins, momentum.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One schema name per choice set shared by several API fields.
    "ENUM_NAME_OVERRIDES": {
        "MaterialKindEnum": "activities.models.Material.Kind",
        "PartnerStatusEnum": "partners.models.Partner.Status",
        "DealSignalKindEnum": "deal_signals.models.SignalKind",
        "SupportTaskKindEnum": "support.models.SupportTask.Kind",
        "SupportTaskStatusEnum": "support.models.SupportTask.Status",
        "QuickWinOutcomeEnum": "support.models.QuickWin.Outcome",
        "QuadrantEnum": "segmentation.models.Quadrant",
        "SegmentTierEnum": "segmentation.models.Tier",
        "SegmentationHighRuleEnum": "segmentation.models.SegmentationSettings.HighRule",
        "SegmentationCutoffRuleEnum": "segmentation.models.CutoffRule",
        "SegmentationRunStatusEnum": "segmentation.models.SegmentationRun.Status",
    },
}

DJANGO_TABLES2_TEMPLATE = "django_tables2/bootstrap5.html"

# --- Security (docs/security.md) ----------------------------------------------------
# Login lockout: django-axes counts failed logins per account (email, case-insensitive)
# and client address; after AXES_FAILURE_LIMIT that pair is locked for
# AXES_COOLOFF_MINUTES (answer 429). The pair, so that nobody can lock a colleague out
# from elsewhere, and an office behind one address is not locked out by one person.
INSTALLED_APPS += ["axes", "csp"]
AUTHENTICATION_BACKENDS = [
    "pse_crm.security.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
MIDDLEWARE += ["csp.middleware.CSPMiddleware", "axes.middleware.AxesMiddleware"]
# The task queue down: "try again" instead of a 500 (pse_crm/resilience.py).
MIDDLEWARE += ["pse_crm.resilience.QueueUnavailableMiddleware"]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The login form posts the email as "username" (Django's AuthenticationForm).
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "pse_crm.security.lockout_username"
AXES_LOCKOUT_CALLABLE = "pse_crm.security.lockout_response"
AXES_RESET_ON_SUCCESS = True
# No start-up banner on every command and worker.
AXES_VERBOSE = False


def client_address_settings(proxies: int) -> tuple[int | None, list[str]]:
    """``(AXES_IPWARE_PROXY_COUNT, AXES_IPWARE_META_PRECEDENCE_ORDER)`` for ``proxies``
    reverse proxies in front of Django (the env var AXES_PROXY_COUNT).

    Each proxy appends the address it was reached from to X-Forwarded-For, so the client
    is the ``proxies``-th address from the right (anything left of it came from the client
    and may be forged); the last proxy is REMOTE_ADDR. django-ipware counts only the
    proxies named in the header, hence ``proxies - 1``, and not strictly (IPWARE_STRICT),
    as a forged prefix makes the chain longer. 0: the header is not trusted at all.
    """
    if proxies <= 0:
        return None, ["REMOTE_ADDR"]
    return proxies - 1, ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]


AXES_IPWARE_PROXY_ORDER = "left-most"
IPWARE_STRICT = False
AXES_IPWARE_PROXY_COUNT, AXES_IPWARE_META_PRECEDENCE_ORDER = client_address_settings(
    env.int("AXES_PROXY_COUNT", default=0)
)

# Content security policy: scripts and styles only from our own origin (static files,
# Chart.js served locally); no inline script, no eval, no framing, no plugins.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# The audit trail (pse_crm/audit.py): every save and delete of these models is recorded
# with who made it; owners read it at /settings/audit/.
AUDITED_MODELS = [
    "activities.Deal",
    "activities.SyncSettings",
    "knowhow.Hearing",
    "segmentation.SegmentationSettings",
    "deal_signals.SignalRule",
    "support.SupportTask",
    "pse_crm.Membership",
    "pse_crm.Invitation",
    "pse_crm.Tenant",
]

# Logs (pse_crm/logs.py): LOG_FORMAT=json writes one JSON object a line (production's
# default), text otherwise; every record carries request_id and tenant_id.
LOG_FORMAT = env("LOG_FORMAT", default="text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "pse_crm.logs.ContextFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "pse_crm.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["context"],
            "formatter": LOG_FORMAT,
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}
# The worker logs through LOGGING too, instead of replacing the root logger's handlers.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Outside production, WhiteNoise serves straight from the finders (no collectstatic needed).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = env.bool("WHITENOISE_AUTOREFRESH", default=True)

# Integration REST API (/api/v1/): batch and body limits. A batch over the record limit or
# a body over the byte limit answers 413 naming the limit. Django's own form-body limit is
# raised to match so that a 10,000-record JSON batch read through request.body is accepted.
API_MAX_BATCH_RECORDS = env.int("API_MAX_BATCH_RECORDS", default=10_000)
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=64 * 1024 * 1024)
# A Bulk API CSV on deals/sync/ may hold a whole Bulk API 2.0 result page (50,000 rows),
# read as a stream; the record limit above stays for every other batch.
API_MAX_DEAL_CSV_ROWS = env.int("API_MAX_DEAL_CSV_ROWS", default=50_000)
# JSON nested deeper than this (arrays and objects) is a 400, checked before decoding.
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=64)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

# --- Salesforce connector (docs/salesforce.md) ---------------------------------------
# Fernet keys (cryptography) that encrypt stored client secrets, comma-separated: the
# first encrypts, every one decrypts (rotate by putting a new key first). Production
# requires it, like SECRET_KEY; this default is for development and tests only.
DEV_FIELD_ENCRYPTION_KEY = "F0FmNRITHUG4DY2WLZWvuSQR0cQ5wgoT1Is-I3yEuqQ="
FIELD_ENCRYPTION_KEY = env("FIELD_ENCRYPTION_KEY", default=DEV_FIELD_ENCRYPTION_KEY)
# An http:// instance URL on a loopback host (a local test org); production refuses it.
SALESFORCE_ALLOW_LOOPBACK_HTTP = env.bool("SALESFORCE_ALLOW_LOOPBACK_HTTP", default=True)
# A pull re-reads this far behind its watermark, for changes committed late.
SALESFORCE_PULL_OVERLAP_SECONDS = env.int("SALESFORCE_PULL_OVERLAP_SECONDS", default=5 * 60)
# Seconds to connect to / wait for Salesforce on one request.
SALESFORCE_TIMEOUT = env.float("SALESFORCE_TIMEOUT", default=60.0)

# --- Operability (README "Operability") ---------------------------------------------
# /healthz, /readyz (pse_crm/health.py) and /metrics (pse_crm/metrics.py). Prometheus:
# requests and latency by view (django-prometheus' middleware, first and last), the
# request id of every request and its log lines (pse_crm/logs.py) right after it.
MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "pse_crm.logs.RequestIdMiddleware",
    *MIDDLEWARE,
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]
# Probes and scrapes reach the process directly, over plain HTTP: a redirect to HTTPS
# would read as success to a Kubernetes probe (any 2xx or 3xx), whatever /readyz says.
SECURE_REDIRECT_EXEMPT = [r"^(healthz|readyz|metrics)$"]
# /metrics wants "Authorization: Bearer <METRICS_TOKEN>"; unset: only from this host.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
# The worker's own metrics endpoint (0: none); see pse_crm/metrics.py.
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=0)
WORKER_METRICS_ADDR = env("WORKER_METRICS_ADDR", default="127.0.0.1")
