"""Ratecard settings, read from environment variables with safe defaults.

Unset ``DATABASE_URL`` means the embedded SQLite file ``db.sqlite3`` beside ``manage.py``;
a ``postgres://`` URL switches to PostgreSQL through psycopg 3 with Django's connection pool.
``DJANGO_DEBUG`` defaults to off, and without debug a real ``DJANGO_SECRET_KEY`` is required.
"""

import os
from pathlib import Path

import dj_database_url
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, *, default: bool) -> bool:
    """Read a boolean environment variable ("1", "true", "yes", "on" are true)."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, *, default: str = "") -> list[str]:
    """Read a comma-separated environment variable into a list of stripped items."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", default=False)

# Without debug and without DJANGO_SECRET_KEY the key stays empty: management commands that sign
# nothing (migrate, makemigrations --check) still run, Django refuses any use of the empty key,
# and the WSGI/ASGI entry points refuse to serve at all (billing/wsgi.py).
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY and DEBUG:
    SECRET_KEY = "django-insecure-local-development-only-do-not-use-in-production"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", default="127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_filters",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "axes",
    "django_tasks_db",
    "django_rq",
    "django_tasks_rq",
    "background",
    "billing",
    "groups",
    "pricing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outside everything that renders for a signed-in user: it marks those answers no-store.
    "billing.middleware.NoStoreMiddleware",
    "billing.middleware.BillingTimeZoneMiddleware",
    "billing.middleware.RejectNulParametersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "billing.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "billing.middleware.IdleSessionTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "billing.middleware.HtmxCacheMiddleware",
    "billing.middleware.HtmxMessagesMiddleware",
    "billing.middleware.DatabaseUnavailableMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: it turns lock-outs into the "too many attempts" page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "billing.urls"
WSGI_APPLICATION = "billing.wsgi.application"
ASGI_APPLICATION = "billing.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            "builtins": ["django_htmx.templatetags.django_htmx"],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# SQLite is the embedded default: WAL and IMMEDIATE transactions keep concurrent writers from
# failing with "database is locked" while the dev server and a command run side by side.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=0,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
        ),
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["OPTIONS"] = {
        "pool": {
            "min_size": 1,
            "max_size": int(os.environ.get("DATABASE_POOL_MAX_SIZE", "10")),
            "timeout": 10,
        },
        "connect_timeout": 5,
        # Our queries are short OLTP reads; JIT compilation cost seconds on the audit's
        # aggregates at benchmark scale and never paid back.
        "options": "-c jit=off",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -------------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
# Sessions end after this long without a request (DJANGO_SESSION_IDLE_MINUTES, default 8 hours).
RATECARD_SESSION_IDLE_TIMEOUT = 60 * int(os.environ.get("DJANGO_SESSION_IDLE_MINUTES", "480"))
RATECARD_SESSION_ACTIVITY_STEP = 60  # seconds between writes of the last activity
SESSION_COOKIE_AGE = RATECARD_SESSION_IDLE_TIMEOUT
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Login throttling: five failures from one user name and address lock it for 15 minutes. The
# address is the client's, also behind the proxy (billing.client.client_ip).
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "billing.client.client_ip"

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# The day a usage record belongs to (for rule validity) is its instant in this zone.
BILLING_TIME_ZONE = os.environ.get("BILLING_TIME_ZONE", "UTC")

# --- Static files -----------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Uploads ----------------------------------------------------------------------------------
# CSV uploads larger than this are refused with a message instead of being read.
RATECARD_MAX_UPLOAD_BYTES = int(os.environ.get("RATECARD_MAX_UPLOAD_BYTES", str(20 * 1024 * 1024)))
# More lines than this are refused up front: storing them would outlast a request's 30 s (SQLite
# here stored 200,000 lines in 5.2 s; a million would take about 26 s on a good day).
RATECARD_MAX_UPLOAD_ROWS = int(os.environ.get("RATECARD_MAX_UPLOAD_ROWS", "300000"))
# Exports of more records than this are written by background work and downloaded when ready.
RATECARD_EXPORT_INLINE_ROWS = int(os.environ.get("RATECARD_EXPORT_INLINE_ROWS", "100000"))
# Files that background work writes (exports): shared by web and worker hosts.
MEDIA_ROOT = Path(os.environ.get("RATECARD_FILES_DIR", str(BASE_DIR / "files")))
DATA_UPLOAD_MAX_MEMORY_SIZE = 25 * 1024 * 1024
# How long an Idempotency-Key's answer is kept for a retried request (billing.idempotency).
RATECARD_IDEMPOTENCY_HOURS = int(os.environ.get("RATECARD_IDEMPOTENCY_HOURS", "24"))
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Background work -------------------------------------------------------------------------
# Django's Tasks framework (``django.tasks``). The embedded default keeps tasks in this database
# (django-tasks-db; ``manage.py run_worker`` runs them); ``RATECARD_TASKS_BACKEND=rq`` sends them
# to RQ on Redis (django-tasks-rq) for any number of workers on any number of hosts.
RATECARD_TASKS_BACKEND = os.environ.get("RATECARD_TASKS_BACKEND", "db").strip().lower()
if RATECARD_TASKS_BACKEND not in {"db", "rq"}:
    raise ValueError("RATECARD_TASKS_BACKEND must be 'db' or 'rq'.")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
# The queue this deployment's work is sent to and its workers take from (tasks are declared on
# Django's "default" queue and sent here).
RATECARD_WORK_QUEUE = os.environ.get("RATECARD_WORK_QUEUE", "default")
_WORK_QUEUES = sorted({"default", RATECARD_WORK_QUEUE})
TASKS = {
    "default": {
        "BACKEND": (
            "django_tasks_db.DatabaseBackend"
            if RATECARD_TASKS_BACKEND == "db"
            else "django_tasks_rq.RQBackend"
        ),
        "QUEUES": _WORK_QUEUES,
    }
}
# RQ's queues (used by the rq backend only). A job may run for an hour before RQ gives up on it.
RQ_QUEUES = {name: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 3600} for name in _WORK_QUEUES}
# The backend alias background work is sent to (tests switch between both).
RATECARD_WORK_BACKEND = "default"
# A running task writes a heartbeat this often; one silent for RATECARD_WORK_STALE_SECONDS is
# taken to have died with its worker and is run again (at most RATECARD_WORK_MAX_ATTEMPTS times).
RATECARD_WORK_HEARTBEAT_SECONDS = float(os.environ.get("RATECARD_WORK_HEARTBEAT_SECONDS", "5"))
RATECARD_WORK_STALE_SECONDS = float(os.environ.get("RATECARD_WORK_STALE_SECONDS", "60"))
RATECARD_WORK_MAX_ATTEMPTS = int(os.environ.get("RATECARD_WORK_MAX_ATTEMPTS", "5"))
# Work queued in Redis this long is enqueued again (Redis may have lost it; a duplicate skips).
RATECARD_WORK_REQUEUE_SECONDS = float(os.environ.get("RATECARD_WORK_REQUEUE_SECONDS", "600"))
# The scheduler's tick: pending usage is rated, stale work recovered and due webhooks sent this
# often (seconds).
RATECARD_SCHEDULE_SECONDS = float(os.environ.get("RATECARD_SCHEDULE_SECONDS", "20"))
# A backlog is rated as parts of about this many records (queue ranges), one task each.
# Webhooks: a delivery that fails is retried after 30 s, 1 min, 2 min, ... (doubling, at most
# 6 h apart) until 24 hours after its event; each attempt waits 10 s for an answer.
RATECARD_WEBHOOK_BACKOFF_SECONDS = float(os.environ.get("RATECARD_WEBHOOK_BACKOFF_SECONDS", "30"))
RATECARD_WEBHOOK_RETRY_HOURS = float(os.environ.get("RATECARD_WEBHOOK_RETRY_HOURS", "24"))
RATECARD_WEBHOOK_TIMEOUT = float(os.environ.get("RATECARD_WEBHOOK_TIMEOUT", "10"))
RATECARD_WEBHOOK_TASK_SECONDS = 60  # one delivery task sends for at most this long
# usage.unrated events recorded per rating run at most (usage_batch.rated carries the count).
RATECARD_WEBHOOK_UNRATED_MAX = int(os.environ.get("RATECARD_WEBHOOK_UNRATED_MAX", "1000"))
# Impact previews over windows of more stored records than this run as background work.
RATECARD_IMPACT_INLINE_RECORDS = int(os.environ.get("RATECARD_IMPACT_INLINE_RECORDS", "20000"))
RATECARD_RATING_PART_SIZE = int(os.environ.get("RATECARD_RATING_PART_SIZE", "100000"))
RATECARD_RATING_MAX_PARTS = int(os.environ.get("RATECARD_RATING_MAX_PARTS", "64"))
RATECARD_RATING_CHUNK = int(os.environ.get("RATECARD_RATING_CHUNK", "20000"))

# --- Domain settings --------------------------------------------------------------------------
RATECARD_REVIEW_OVERDUE_DAYS = int(os.environ.get("RATECARD_REVIEW_OVERDUE_DAYS", "90"))
RATECARD_STALE_MEMBERSHIP_DAYS = int(os.environ.get("RATECARD_STALE_MEMBERSHIP_DAYS", "180"))

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["billing.permissions.RolePermission"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "billing.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["billing.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "billing.exceptions.api_exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Ratecard API",
    "DESCRIPTION": "Customer groups, pricing rules and rating.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "billing.api_schema.document_errors",
    ],
}

# --- Security ---------------------------------------------------------------------------------
# HTTPS-only settings are on whenever debug is off; DJANGO_SECURE=0 turns them off for a
# plain-HTTP deployment behind a trusted network (not recommended).
SECURE = env_bool("DJANGO_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = SECURE
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365 if SECURE else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = SECURE
# Behind a TLS-terminating proxy (DJANGO_BEHIND_PROXY=1) its headers are trusted: the scheme
# from X-Forwarded-Proto, the client address from the entry it appends to X-Forwarded-For
# (RATECARD_PROXY_COUNT proxies in a chain). The app must then be reachable only through it.
RATECARD_BEHIND_PROXY = env_bool("DJANGO_BEHIND_PROXY", default=False)
RATECARD_PROXY_COUNT = max(1, int(os.environ.get("DJANGO_PROXY_COUNT", "1")))
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if RATECARD_BEHIND_PROXY else None
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# No inline scripts or styles anywhere: scripts and styles come from our own static files.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
CSRF_FAILURE_VIEW = "billing.views.csrf_failure"
