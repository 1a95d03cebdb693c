"""Settings shared by every environment.

Everything an operator may change is read from the environment (docs/configuration.md);
`local`, `test` and `production` only adjust defaults.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("MARKETPLACE_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "oauth2_provider",
    "django_htmx",
    "csp",
    "marketplace",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "apps.accounts",
    "apps.organizations",
    "apps.catalog",
    "apps.provisioning",
    "apps.procurement",
    "apps.analytics",
    "apps.webhooks",
    "apps.storefront",
]

MIDDLEWARE = [
    "marketplace.metrics.MetricsMiddleware",
    "marketplace.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "marketplace.middleware.ApiErrorMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.storefront.context_processors.active_organization",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
# Unset DATABASE_URL means the embedded SQLite file. WAL and IMMEDIATE transactions let the
# web server, a worker and beat share it without "database is locked".
SQLITE_PATH = VAR_DIR / "db.sqlite3"
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    # A fresh checkout has no var/ (it is not in git) and SQLite does not create folders:
    # without this, the first `make run` or `manage.py migrate` fails to open the database.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (throttling, login lock-out) ---------------------------------------------------
CACHE_URL = os.environ.get("CACHE_URL", "")
if CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "marketplace"}}
# The count and facet counts of public catalog searches are cached per catalog change counter
# for at most this long (0: never cached); see apps/catalog/search.py.
MARKETPLACE_CATALOG_SUMMARY_CACHE_SECONDS = int(os.environ.get("MARKETPLACE_CATALOG_SUMMARY_CACHE_SECONDS", "600"))

# --- Auth ----------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "storefront:login"
LOGIN_REDIRECT_URL = "storefront:home"
LOGOUT_REDIRECT_URL = "storefront:home"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Failed sign-ins per e-mail address and client address before a lock-out.
LOGIN_FAILURE_LIMIT = int(os.environ.get("MARKETPLACE_LOGIN_FAILURE_LIMIT", "5"))
LOGIN_LOCKOUT_SECONDS = int(os.environ.get("MARKETPLACE_LOGIN_LOCKOUT_SECONDS", "900"))
EMAIL_CONFIRMATION_MAX_AGE = 3 * 24 * 3600
INVITATION_VALID_DAYS = 14

# --- OAuth2 (integrators: client credentials) ----------------------------------------
OAUTH2_PROVIDER_APPLICATION_MODEL = "organizations.ApiClient"
OAUTH2_PROVIDER = {
    "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
    "SCOPES": {"api": "Act for the organization that owns the client, with the client's role"},
    "DEFAULT_SCOPES": ["api"],
    "ALLOWED_GRANT_TYPES": ["client-credentials"],
    "PKCE_REQUIRED": True,
}

# --- API ----------------------------------------------------------------------------
# How many proxies in front of the app append to X-Forwarded-For (0: trust REMOTE_ADDR only,
# so callers cannot pick their own address for the per-address limit and the audit log).
MARKETPLACE_TRUSTED_PROXY_COUNT = int(os.environ.get("MARKETPLACE_TRUSTED_PROXY_COUNT", "0"))
REST_FRAMEWORK = {
    "NUM_PROXIES": MARKETPLACE_TRUSTED_PROXY_COUNT,
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "marketplace.authentication.ApiClientAuthentication",
        "marketplace.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["marketplace.permissions.IsAuthenticatedPrincipal"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "marketplace.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "marketplace.schema.AutoSchema",  # adds the error answers (marketplace/schema.py)
    "EXCEPTION_HANDLER": "marketplace.errors.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "marketplace.throttling.PrincipalRateThrottle",
        "marketplace.throttling.AddressRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "principal": os.environ.get("MARKETPLACE_THROTTLE_PRINCIPAL_RATE", "1200/min"),
        "address": os.environ.get("MARKETPLACE_THROTTLE_ADDRESS_RATE", "600/min"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# Client ids (comma-separated) that are never throttled: for benchmarks and load tests only.
MARKETPLACE_THROTTLE_EXEMPT_CLIENTS = env_list("MARKETPLACE_THROTTLE_EXEMPT_CLIENTS")
MARKETPLACE_PRINCIPAL_RESOLVER = "apps.organizations.principals.resolve_principal"
MARKETPLACE_ORGANIZATION_MODEL = "organizations.Organization"
MARKETPLACE_ALLOW_PRIVATE_OUTBOUND = env_bool("MARKETPLACE_ALLOW_PRIVATE_OUTBOUND", False)
# Bodies above this answer 413 with the API error shape.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("MARKETPLACE_MAX_BODY_BYTES", str(2 * 1024 * 1024)))

SPECTACULAR_SETTINGS = {
    "TITLE": "Digital-health marketplace API",
    "DESCRIPTION": (
        "Public contract, version 1. Integrators authenticate with OAuth2 client credentials "
        "at /o/token/; people use their session. Errors always have the shape "
        '{"error": {"code", "message", "fields"}}.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Tags and operation ids from the path after /api/v1 ("trials", "trials_create"), not "v1".
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "OrganizationKindEnum": "apps.organizations.models.Organization.Kind",
        "SiteKindEnum": "apps.organizations.models.Site.Kind",
        "MemberRoleEnum": "apps.organizations.models.MemberRole",
        "ApiClientRoleEnum": "apps.organizations.models.ApiClient.Role",
        "ListingStatusEnum": "apps.catalog.models.Listing.Status",
        "RevisionStatusEnum": "apps.catalog.models.ListingRevision.Status",
        "InvitationStatusEnum": "apps.organizations.models.Invitation.Status",
        "ArtifactKindEnum": "apps.catalog.models.Artifact.Kind",
        "DocumentKindEnum": "apps.catalog.models.Document.Kind",
        "OfferingModeEnum": "apps.catalog.models.Offering.Mode",
    },
}

# --- Celery -------------------------------------------------------------------------
# Unset CELERY_BROKER_URL means the embedded broker: kombu's filesystem transport under var/.
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "") or "filesystem://"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than any countdown we use; long waits live in the database, swept by beat.
        "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600")),
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_DEFAULT_QUEUE = "default"
# Workers log through LOGGING below (JSON with the request id), not through Celery's own handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Every queue must have a consumer in `make run`, docker-compose.yml and CI.
MARKETPLACE_QUEUES = ("default", "provisioning", "notifications", "webhooks")
CELERY_TASK_QUEUES = tuple(Queue(name, Exchange(name), routing_key=name) for name in MARKETPLACE_QUEUES)
CELERY_TASK_ROUTES = {
    "notifications.*": {"queue": "notifications"},
    "provisioning.*": {"queue": "provisioning"},
    "webhooks.*": {"queue": "webhooks"},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "outbox-reconcile": {"task": "marketplace.outbox_reconcile", "schedule": 30.0},
    "events-assign-sequence": {"task": "marketplace.events_assign_sequence", "schedule": 15.0},
    "idempotency-purge": {"task": "marketplace.idempotency_purge", "schedule": 3600.0},
    "clear-expired-credentials": {"task": "marketplace.clear_expired_credentials", "schedule": 86400.0},
    "sent-messages-purge": {"task": "marketplace.sent_messages_purge", "schedule": 86400.0},
    "webhook-deliveries-purge": {
        "task": "webhooks.deliveries_purge",
        "schedule": 86400.0,
        "options": {"queue": "webhooks"},
    },
    "provisioning-reconcile": {"task": "provisioning.reconcile", "schedule": 60.0},
    "trials-sweep": {"task": "procurement.trials_sweep", "schedule": 300.0},
    "quotes-sweep": {"task": "procurement.quotes_sweep", "schedule": 300.0},
    "subscriptions-sweep": {"task": "procurement.subscriptions_sweep", "schedule": 300.0},
    "webhooks-fan-out": {"task": "webhooks.fan_out", "schedule": 10.0, "options": {"queue": "webhooks"}},
    "webhooks-sweep": {"task": "webhooks.sweep", "schedule": 10.0, "options": {"queue": "webhooks"}},
}
# Outbox rows older than this without a confirmed dispatch are sent again by the reconciler.
MARKETPLACE_OUTBOX_RESEND_AFTER_SECONDS = 30
# Days the records of finished work are kept (0: forever); beat removes older ones daily
# (marketplace/retention.py). Events and the audit log are always kept.
MARKETPLACE_RETENTION_OUTBOX_DAYS = int(os.environ.get("MARKETPLACE_RETENTION_OUTBOX_DAYS", "7"))
MARKETPLACE_RETENTION_EMAIL_DAYS = int(os.environ.get("MARKETPLACE_RETENTION_EMAIL_DAYS", "30"))
MARKETPLACE_RETENTION_WEBHOOK_DELIVERY_DAYS = int(os.environ.get("MARKETPLACE_RETENTION_WEBHOOK_DELIVERY_DAYS", "30"))

# --- Provisioning and trials ----------------------------------------------------------------
# The sandbox backend's simulated step duration and failure injection (tests, demos).
MARKETPLACE_SANDBOX = {
    "step_seconds": float(os.environ.get("MARKETPLACE_SANDBOX_STEP_SECONDS", "2")),
    "fail_step": os.environ.get("MARKETPLACE_SANDBOX_FAIL_STEP", ""),
    "transient_failures": int(os.environ.get("MARKETPLACE_SANDBOX_TRANSIENT_FAILURES", "0")),
    # A wait in every call that the estimates do not announce: a backend slower than it says.
    "latency_seconds": float(os.environ.get("MARKETPLACE_SANDBOX_LATENCY_SECONDS", "0")),
}
# A provisioning task runs a deployment's next steps itself while it has run for less than this
# (each step still commits on its own); past it, the next step is queued as a task of its own.
MARKETPLACE_PROVISIONING_INLINE_SECONDS = float(os.environ.get("MARKETPLACE_PROVISIONING_INLINE_SECONDS", "10"))
# New deployments whose steps take no time share a task, up to this many (bulk statements per round).
MARKETPLACE_PROVISIONING_BATCH_SIZE = int(os.environ.get("MARKETPLACE_PROVISIONING_BATCH_SIZE", "100"))
# Work with no progress for this long is sent again by the reconciler; past the deadline it fails.
MARKETPLACE_PROVISIONING_STUCK_SECONDS = int(os.environ.get("MARKETPLACE_PROVISIONING_STUCK_SECONDS", "300"))
MARKETPLACE_PROVISIONING_DEADLINE_SECONDS = int(os.environ.get("MARKETPLACE_PROVISIONING_DEADLINE_SECONDS", "3600"))
# Days before a trial ends when its provider is reminded.
MARKETPLACE_TRIAL_REMINDER_DAYS = [int(d) for d in env_list("MARKETPLACE_TRIAL_REMINDER_DAYS", "7,1")]
# Operators (staff) need a second factor (TOTP, django-otp) for the operator console and for acting
# as operators through their session. Production forces it on; locally it is off unless set.
MARKETPLACE_OPERATOR_2FA = env_bool("MARKETPLACE_OPERATOR_2FA", False)
OTP_TOTP_ISSUER = "Digital-health marketplace"
# /metrics answers signed-in operators and callers from these networks (Prometheus inside the
# cluster); everyone else gets 404.
MARKETPLACE_METRICS_ALLOWED_NETWORKS = env_list("MARKETPLACE_METRICS_ALLOWED_NETWORKS", "127.0.0.1/32,::1/128")
# Business limits (0 switches one off; the benchmarks do): per organization and 24 hours, and
# failed site-agent enrollments per site or address and hour. Over a limit: 429 + Retry-After.
MARKETPLACE_LIMITS = {
    "trial_requests_per_day": int(os.environ.get("MARKETPLACE_LIMIT_TRIAL_REQUESTS_PER_DAY", "100")),
    "quote_requests_per_day": int(os.environ.get("MARKETPLACE_LIMIT_QUOTE_REQUESTS_PER_DAY", "100")),
    "invitations_per_day": int(os.environ.get("MARKETPLACE_LIMIT_INVITATIONS_PER_DAY", "50")),
    "failed_enrollments_per_hour": int(os.environ.get("MARKETPLACE_LIMIT_FAILED_ENROLLMENTS_PER_HOUR", "10")),
}
# A trial's license is issued at approval and stays valid for the trial's days plus this allowance
# for setting it up (the trial's own end is enforced by expiry and revocation).
MARKETPLACE_TRIAL_LICENSE_SETUP_DAYS = int(os.environ.get("MARKETPLACE_TRIAL_LICENSE_SETUP_DAYS", "7"))
# Versions of the platform's data processing agreement and business associate agreement that
# buyers accept (the EULA version is each listing's own).
MARKETPLACE_TERMS_VERSIONS = {
    "dpa": os.environ.get("MARKETPLACE_DPA_VERSION", "2026-01"),
    "baa": os.environ.get("MARKETPLACE_BAA_VERSION", "2026-01"),
}
# License signing keys live in the database, their private halves encrypted with this key
# (Fernet, derived by SHA-256). Set it from a secrets mount in production; without it the
# Django secret key is used.
MARKETPLACE_LICENSE_KEY_ENCRYPTION_KEY = os.environ.get("MARKETPLACE_LICENSE_KEY_ENCRYPTION_KEY", "")

# --- Files ----------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MARKETPLACE_MEDIA_ROOT", VAR_DIR / "media"))
STORAGE_BUCKET = os.environ.get("STORAGE_BUCKET", "")
if STORAGE_BUCKET:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": STORAGE_BUCKET,
            "endpoint_url": os.environ.get("STORAGE_ENDPOINT_URL") or None,
            "access_key": os.environ.get("STORAGE_ACCESS_KEY") or None,
            "secret_key": os.environ.get("STORAGE_SECRET_KEY") or None,
            "region_name": os.environ.get("STORAGE_REGION") or None,
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": 300,
            "file_overwrite": False,
        },
    }
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- E-mail ---------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("DJANGO_EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("DJANGO_EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("DJANGO_EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("DJANGO_EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("DJANGO_EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_DEFAULT_FROM_EMAIL", "marketplace@localhost")
MARKETPLACE_BASE_URL = os.environ.get("MARKETPLACE_BASE_URL", "http://127.0.0.1:8000")

# --- Security headers -----------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# DJANGO_LOG_FORMAT: "json" (one object per line with the request id; production's default) or
# "plain" (the local default).
LOG_FORMAT = os.environ.get("DJANGO_LOG_FORMAT", "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "marketplace.logging.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "marketplace.logging.MarketplaceJsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        # oauthlib logs issued tokens at DEBUG: never below WARNING, whatever the root level.
        "oauthlib": {"level": "WARNING"},
        "oauth2_provider": {"level": "WARNING"},
    },
}
