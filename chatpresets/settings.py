"""ChatPresets settings: every value comes from the environment (see the README's table).

With nothing configured the project runs embedded (SQLite, local-memory cache, in-memory
channel layer, eager Celery). DATABASE_URL, REDIS_URL and CELERY_BROKER_URL switch each part
to a real service. DJANGO_ENV=production turns on the deployment hardening.
"""

from __future__ import annotations

import ipaddress
import json
import os
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from chatpresets.env import env_bool, env_float, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()  # used only to parse DATABASE_URL


DJANGO_ENV = env_str("DJANGO_ENV", "development")
if DJANGO_ENV not in {"development", "test", "production"}:
    raise ImproperlyConfigured(f"DJANGO_ENV must be development, test or production, not {DJANGO_ENV!r}")
PRODUCTION = DJANGO_ENV == "production"

SECRET_KEY = env_secret("SECRET_KEY", default=None if PRODUCTION else "dev-insecure-key-change-me")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) is required when DJANGO_ENV=production")
DEBUG = env_bool("DEBUG", not PRODUCTION)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "simple_history",
    "channels",
    "axes",
    "csp",
    "django_htmx",
    "tenancy",
    "audit",
    "presets",
    "conversations",
]

MIDDLEWARE = [
    # Outermost, so its time covers the rest; not loaded at all while METRICS_ENABLED is off.
    "chatpresets.observability.http.HttpMetricsMiddleware",
    "chatpresets.middleware.RequestContextMiddleware",
    "chatpresets.middleware.ApiNotFoundMiddleware",
    "chatpresets.middleware.DependencyUnavailableMiddleware",
    "chatpresets.middleware.NullCharacterMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "chatpresets.static_files.AsyncWhiteNoiseMiddleware",
    # Django's and django-csp's, without a worker thread per hook; the cookie-session ones pass API
    # requests that bring a key straight through (chatpresets/browser_middleware.py).
    "chatpresets.browser_middleware.SessionMiddleware",
    "chatpresets.browser_middleware.CommonMiddleware",
    "chatpresets.browser_middleware.CsrfViewMiddleware",
    "chatpresets.browser_middleware.AuthenticationMiddleware",
    "chatpresets.browser_middleware.MessageMiddleware",
    "chatpresets.browser_middleware.XFrameOptionsMiddleware",
    "chatpresets.browser_middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]
# Django finds the CSRF and X-Frame-Options middleware by path; the subclasses above are checked
# by chatpresets.browser_middleware.deploy_checks instead.
SILENCED_SYSTEM_CHECKS = ["security.W002", "security.W003"]

# One strict policy for every HTML page: scripts and styles only from our own static files (no
# inline script, style or event handler anywhere), websockets and fetches to this origin only.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "report-uri": "/csp-report/",
    }
}

ROOT_URLCONF = "chatpresets.urls"
ASGI_APPLICATION = "chatpresets.asgi.application"
WSGI_APPLICATION = None

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
                "tenancy.context_processors.organisations",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASE_CONN_MAX_AGE = env_int("DATABASE_CONN_MAX_AGE", 0)  # only without the pool
DATABASE_POOL_ENABLED = env_bool("DATABASE_POOL_ENABLED", True)
DATABASE_POOL_MIN_SIZE = env_int("DATABASE_POOL_MIN_SIZE", 2)
DATABASE_POOL_MAX_SIZE = env_int("DATABASE_POOL_MAX_SIZE", 10)
DATABASE_POOL_TIMEOUT_SECONDS = env_float("DATABASE_POOL_TIMEOUT_SECONDS", 5.0)
DATABASE_POOL_MAX_IDLE_SECONDS = env_float("DATABASE_POOL_MAX_IDLE_SECONDS", 60.0)
DATABASE_SQLITE_BUSY_TIMEOUT_SECONDS = env_float("DATABASE_SQLITE_BUSY_TIMEOUT_SECONDS", 20.0)
# After a wait for a pooled connection ends with the database unreachable, requests are refused at
# once (503) for this long rather than each waiting out DATABASE_POOL_TIMEOUT_SECONDS (chatpresets/pooled_postgresql).
DATABASE_UNREACHABLE_SECONDS = env_float("DATABASE_UNREACHABLE_SECONDS", 2.0)
if not DATABASE_UNREACHABLE_SECONDS >= 0:  # NaN too
    raise ImproperlyConfigured(f"DATABASE_UNREACHABLE_SECONDS={DATABASE_UNREACHABLE_SECONDS} must not be negative")
if DATABASE_POOL_ENABLED and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Under ASGI each request's sync code runs in a thread of its own, so connections kept per thread
    # (CONN_MAX_AGE) are never reused and pile up until PostgreSQL refuses clients. One bounded pool
    # per process instead: closing a connection returns it, and a full pool waits up to the timeout,
    # then answers 503 (chatpresets.errors.dependency_failure). The pool requires CONN_MAX_AGE = 0.
    if not 0 <= DATABASE_POOL_MIN_SIZE <= DATABASE_POOL_MAX_SIZE or DATABASE_POOL_MAX_SIZE < 1:
        raise ImproperlyConfigured("DATABASE_POOL_MIN_SIZE must be between 0 and DATABASE_POOL_MAX_SIZE (at least 1)")
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["ENGINE"] = "chatpresets.pooled_postgresql"
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": DATABASE_POOL_MIN_SIZE,
        "max_size": DATABASE_POOL_MAX_SIZE,
        "timeout": DATABASE_POOL_TIMEOUT_SECONDS,
        "max_idle": DATABASE_POOL_MAX_IDLE_SECONDS,  # above min_size, idle connections close after this
    }
else:  # no pool (SQLite, or an external pooler such as PgBouncer): close after each request by default
    DATABASES["default"]["CONN_MAX_AGE"] = DATABASE_CONN_MAX_AGE
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env_bool("DATABASE_CONN_HEALTH_CHECKS", True)
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The embedded run serves concurrent requests from threads: WAL lets readers go on while one
    # writer commits; IMMEDIATE takes the write lock when a transaction begins, so a transaction
    # never fails halfway when it upgrades from reading to writing ("database is locked"); and
    # writers queue for the lock up to the busy timeout instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": DATABASE_SQLITE_BUSY_TIMEOUT_SECONDS,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # The embedded run only: SQLite cannot treat NULLs as equal in the usage roll-up's unique key,
    # and the roll-up replaces a day's rows in one transaction, so the constraint is not needed there.
    SILENCED_SYSTEM_CHECKS.append("models.W047")
    # Covering columns (INCLUDE) are a PostgreSQL read optimisation; SQLite's indexes work without them.
    SILENCED_SYSTEM_CHECKS.append("models.W040")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "chatpresets"),
            "OPTIONS": {
                "socket_connect_timeout": 1,
                "socket_timeout": 1,
                "pool_class": "chatpresets.redis_pools.SharedConnectionPool",
            },
        }
    }
    # An idle socket's receive is a blocking BZPOPMIN that Redis answers after brpop_timeout (5 s);
    # redis-py 8 reads with a 5 s socket timeout by default, loses that race and kills the socket
    # (1011). The read timeout must outlast the blocking pop, yet still notice a Redis that hangs.
    from channels_redis.core import RedisChannelLayer

    CHANNEL_LAYER_SOCKET_TIMEOUT_SECONDS = env_float("CHANNEL_LAYER_SOCKET_TIMEOUT_SECONDS", 15.0)
    if RedisChannelLayer.brpop_timeout >= CHANNEL_LAYER_SOCKET_TIMEOUT_SECONDS:
        raise ImproperlyConfigured(
            f"CHANNEL_LAYER_SOCKET_TIMEOUT_SECONDS must exceed {RedisChannelLayer.brpop_timeout} seconds."
        )
    CHANNEL_LAYER_HOST = {
        "address": REDIS_URL,
        "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT_SECONDS,
        # Per process and event loop: group sends past it wait for a connection, up to the timeout.
        "max_connections": env_int("CHANNEL_LAYER_MAX_CONNECTIONS", 100, minimum=2),
        "timeout": env_float("CHANNEL_LAYER_POOL_TIMEOUT_SECONDS", 5.0),
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "chatpresets.redis_pools.BoundedRedisChannelLayer",
            "CONFIG": {"hosts": [CHANNEL_LAYER_HOST], "prefix": env_str("CHANNEL_LAYER_PREFIX", "chatpresets")},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_USER_MODEL = "tenancy.User"
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out account or address before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if DJANGO_ENV == "test":
    # Hashing strength is not under test; PBKDF2 would dominate the suite's run time.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Password guessing (django-axes, on /accounts/login/ and /admin/login/): failures are counted per
# account and, separately, per client address; either reaching the limit locks it for the cool-off.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("LOGIN_LOCKOUT_MINUTES", 15.0))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_LOCKOUT_CALLABLE = "tenancy.login_guard.lockout_response"  # 429, a page, Retry-After
# REMOTE_ADDR only: no proxy is trusted yet, so a forwarded-for header must not pick the address.
AXES_CLIENT_IP_CALLABLE = "chatpresets.request_context.client_ip_of"
AXES_RESET_ON_SUCCESS = False  # else one good sign-in from an address would wipe its failures
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
# guardian's anonymous user would be a second, tenant-less identity; the product has none.
ANONYMOUS_USER_NAME = None

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Production serves collected files (run collectstatic at deploy); elsewhere whitenoise finds them in place.
STATIC_ROOT = env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")) if PRODUCTION else None
WHITENOISE_USE_FINDERS = not PRODUCTION
STATICFILES_DIRS = [BASE_DIR / "static"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenancy.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["chatpresets.throttling.UserRateThrottle", "chatpresets.throttling.AnonRateThrottle"],
    # JSON only: bodies nest (variables, params_override) and carry null, which forms cannot say,
    # and the schema lists exactly what is parsed, so a client never picks an encoding that half works.
    "DEFAULT_PARSER_CLASSES": ["chatpresets.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "chatpresets.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "chatpresets.openapi.AutoSchema",
    "DEFAULT_METADATA_CLASS": "chatpresets.metadata.Metadata",
    "EXCEPTION_HANDLER": "chatpresets.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
API_THROTTLE_USER_RATE = env_str("API_THROTTLE_USER_RATE", "1200/min")
API_THROTTLE_ANON_RATE = env_str("API_THROTTLE_ANON_RATE", "120/min")

SPECTACULAR_SETTINGS = {
    "TITLE": "ChatPresets API",
    "DESCRIPTION": "Multi-tenant chat with shared, versioned, governed presets.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Forms and multipart are parsed for the browsable API only; clients are documented one body, JSON.
    "PARSER_WHITELIST": ["chatpresets.parsers.JSONParser"],
    # The chat routes are plain async views, which drf-spectacular cannot see on its own.
    "PREPROCESSING_HOOKS": ["conversations.api.schema.add_plain_views"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "conversations.api.schema.describe_event_streams",
        "chatpresets.openapi.strings_without_nul",
    ],
    # Fixed, not guessed from the paths: /v1/ (OpenAI-compatible) must not change the /api/v1/ ids and tags.
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "GrantLevelEnum": "presets.models.Level.choices",
        "LinkLevelEnum": "presets.models.LINK_LEVEL_CHOICES",
        # A message's role and status share their field names with these: each set keeps its own name.
        "RoleEnum": "tenancy.models.Role.choices",
        "StatusEnum": "presets.models.Status.choices",
        "MessageRoleEnum": "conversations.models.Role.choices",
        "MessageStatusEnum": "conversations.models.MessageStatus.choices",
        "AssistantRoleEnum": ["assistant"],
        "SoftLimitCodeEnum": ["soft_limit_reached"],
        "WebhookDeliveryStatusEnum": "presets.webhooks.models.DeliveryStatus.choices",
        "ReplayStatusEnum": "conversations.replays.models.ReplayStatus.choices",
        "ReplayItemStatusEnum": "conversations.replays.models.ItemStatus.choices",
        "WebhookEventEnum": "presets.webhooks.events.EVENTS",
        # An experiment's primary metric and its guardrails choose from the same metrics.
        "ExperimentMetricEnum": "presets.experiments.models.Metric.choices",
    },
}

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", "") or None
# With no broker the tasks run in-process, so the embedded run needs no worker.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
# Without a broker, conversation summaries and titles run on a background thread; tests run them inline.
BACKGROUND_TASKS_INLINE = env_bool("BACKGROUND_TASKS_INLINE", DJANGO_ENV == "test")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# Background work by queue, so a backlog of one kind (webhooks to a slow receiver) does not hold up
# another, and each queue gets workers of its own (deploy/Procfile).
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "conversations.tasks.summarise": {"queue": "summaries"},
    "conversations.tasks.generate_title": {"queue": "summaries"},
    "presets.webhooks.tasks.deliver": {"queue": "webhooks"},
}


def _queue_depths(items: list[str]) -> dict[str, int]:
    depths = {}
    for item in items:
        queue, _, depth = item.partition("=")
        if not depth.strip().isdigit():
            raise ImproperlyConfigured(f"CELERY_QUEUE_MAX_DEPTH: {item!r} is not queue=depth (0: no limit)")
        depths[queue.strip()] = int(depth)
    return depths


# Messages a queue may hold before new work for it is refused (chatpresets/queue_limits.py); without
# a broker, tasks running at once on background threads. 0 or a queue not named: no limit.
CELERY_QUEUE_MAX_DEPTH = _queue_depths(
    env_list("CELERY_QUEUE_MAX_DEPTH", ["default=10000", "summaries=10000", "webhooks=50000"])
)
CELERY_QUEUE_DEPTH_CACHE_SECONDS = env_float("CELERY_QUEUE_DEPTH_CACHE_SECONDS", 1.0)
# Without a broker nothing runs Celery beat, so the web process runs the schedule itself
# (chatpresets/scheduler.py). Tests start it only when asked.
PERIODIC_TASKS_INLINE = env_bool("PERIODIC_TASKS_INLINE", not CELERY_BROKER_URL and DJANGO_ENV != "test")
STREAM_SWEEP_SECONDS = env_float("STREAM_SWEEP_SECONDS", 60.0)
if STREAM_SWEEP_SECONDS <= 0:
    raise ImproperlyConfigured(f"STREAM_SWEEP_SECONDS={STREAM_SWEEP_SECONDS} must be more than 0")
CELERY_BEAT_SCHEDULE = {
    "purge-expired-preset-trash": {"task": "presets.tasks.purge_expired_trash", "schedule": 3600.0},
    "sweep-abandoned-streams": {
        "task": "conversations.tasks.sweep_abandoned_streams",
        "schedule": STREAM_SWEEP_SECONDS,
    },
    "release-expired-reservations": {"task": "conversations.tasks.release_expired_reservations", "schedule": 60.0},
    "purge-deleted-conversations": {"task": "conversations.tasks.purge_deleted_conversations", "schedule": 3600.0},
    "rollup-usage": {"task": "conversations.usage.rollup_usage", "schedule": 3600.0},
    "sweep-stalled-replays": {"task": "conversations.tasks.sweep_stalled_replays", "schedule": 60.0},
}

# Change webhooks (docs/webhooks.md). Targets resolving into loopback, private, link-local,
# multicast or reserved ranges are refused unless a network here allows them (CIDR list).
WEBHOOK_ALLOWED_NETWORKS = env_list("WEBHOOK_ALLOWED_NETWORKS", [])
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 5.0)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8)
WEBHOOK_MAX_ENDPOINTS = env_int("WEBHOOK_MAX_ENDPOINTS", 20)  # per organisation: every event fans out to each
WEBHOOK_RETRY_BASE_SECONDS = env_float("WEBHOOK_RETRY_BASE_SECONDS", 10.0)  # doubled after each failure
WEBHOOK_SWEEP_SECONDS = env_float("WEBHOOK_SWEEP_SECONDS", 10.0)
try:
    _ = [ipaddress.ip_network(network, strict=False) for network in WEBHOOK_ALLOWED_NETWORKS]
except ValueError as error:
    raise ImproperlyConfigured(f"WEBHOOK_ALLOWED_NETWORKS: {error}") from None
if (
    min(WEBHOOK_TIMEOUT_SECONDS, WEBHOOK_RETRY_BASE_SECONDS, WEBHOOK_SWEEP_SECONDS) <= 0
    or min(WEBHOOK_MAX_ATTEMPTS, WEBHOOK_MAX_ENDPOINTS) < 1
):
    raise ImproperlyConfigured("WEBHOOK_* seconds must be > 0 and WEBHOOK_MAX_ATTEMPTS >= 1")
CELERY_BEAT_SCHEDULE |= {
    "retry-webhook-deliveries": {
        "task": "presets.webhooks.tasks.sweep_due_deliveries",
        "schedule": WEBHOOK_SWEEP_SECONDS,
    },
}

# The audit trail's hash chains (docs/audit.md). The signing key signs chain-head seals; it must
# live outside the database (an environment secret or a mounted file), or seals prove nothing.
AUDIT_SIGNING_KEY = env_secret("AUDIT_SIGNING_KEY", default="") or ""
AUDIT_SEAL_SECONDS = env_float("AUDIT_SEAL_SECONDS", 3600.0)  # how much of a cut tail can go unseen
AUDIT_VERIFY_SECONDS = env_float("AUDIT_VERIFY_SECONDS", 86400.0)
# The operator's retention floor in days (0: keep forever); organisations may only keep longer.
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 0)
if min(AUDIT_SEAL_SECONDS, AUDIT_VERIFY_SECONDS) <= 0 or AUDIT_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("AUDIT_SEAL_SECONDS and AUDIT_VERIFY_SECONDS must be > 0, AUDIT_RETENTION_DAYS >= 0")
CELERY_BEAT_SCHEDULE |= {
    "seal-audit-chains": {"task": "audit.tasks.seal_chain_heads", "schedule": AUDIT_SEAL_SECONDS},
    "verify-audit-chains": {"task": "audit.tasks.verify_chains", "schedule": AUDIT_VERIFY_SECONDS},
    "purge-expired-audit-events": {"task": "audit.tasks.purge_expired_events", "schedule": 86400.0},
}

# The model catalogue (see chatpresets/llm/catalogue.py). With OPENAI_API_KEY the defaults are
# OpenAI's models; without it, the embedded SmolLM2 server that `make run` starts on loopback.
OPENAI_API_KEY = env_secret("OPENAI_API_KEY", default="") or ""
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL", "https://api.openai.com/v1")
LOCAL_MODEL_URL = env_str("LOCAL_MODEL_URL", "http://127.0.0.1:8081/v1")
_DEFAULT_CATALOGUE = (
    [
        {
            "name": "gpt-4o-mini",
            "base_url": OPENAI_BASE_URL,
            "api_key_env": "OPENAI_API_KEY",
            "encoding": "o200k_base",
            "context_window": 128000,
            "max_output": 16384,
            "price_in_per_million": "0.15",
            "price_out_per_million": "0.60",
            "price_cached_in_per_million": "0.075",
            "stream_usage": True,
        },
        {
            "name": "gpt-4o",
            "base_url": OPENAI_BASE_URL,
            "api_key_env": "OPENAI_API_KEY",
            "encoding": "o200k_base",
            "context_window": 128000,
            "max_output": 16384,
            "price_in_per_million": "2.50",
            "price_out_per_million": "10.00",
            "price_cached_in_per_million": "1.25",
            "stream_usage": True,
            "fallbacks": ["gpt-4o-mini"],
        },
    ]
    if OPENAI_API_KEY
    else [
        {
            "name": "smollm2",
            "base_url": LOCAL_MODEL_URL,
            "encoding": "cl100k_base",
            "context_window": 8192,
            "max_output": 512,
        },
    ]
)
try:
    MODEL_CATALOGUE = json.loads(env_str("MODEL_CATALOGUE", "null")) or _DEFAULT_CATALOGUE
except json.JSONDecodeError as error:
    raise ImproperlyConfigured(f"MODEL_CATALOGUE is not valid JSON: {error}") from error
MODEL_CATALOGUE_FILE = env_str("MODEL_CATALOGUE_FILE", "")
DEFAULT_MODEL = env_str("DEFAULT_MODEL", "")  # empty: the first model of the catalogue in use
DEFAULT_SYSTEM_PROMPT = env_str("DEFAULT_SYSTEM_PROMPT", "You are a helpful assistant.")
STREAM_FLUSH_SECONDS = env_float("STREAM_FLUSH_SECONDS", 1.0)
STREAM_ABANDONED_SECONDS = env_int("STREAM_ABANDONED_SECONDS", 120)
# Backpressure (tenancy/metering/stream_slots.py): interactive model streams one process runs at
# once, the share of them one organisation may hold, and the wait a refused caller is told.
MAX_CONCURRENT_STREAMS = env_int("MAX_CONCURRENT_STREAMS", 100)
STREAM_ORG_SHARE = env_float("STREAM_ORG_SHARE", 0.5)
STREAM_RETRY_AFTER_SECONDS = env_int("STREAM_RETRY_AFTER_SECONDS", 2)
if MAX_CONCURRENT_STREAMS < 1:
    raise ImproperlyConfigured(f"MAX_CONCURRENT_STREAMS={MAX_CONCURRENT_STREAMS} must be at least 1")
if not 0 < STREAM_ORG_SHARE <= 1:
    raise ImproperlyConfigured(f"STREAM_ORG_SHARE={STREAM_ORG_SHARE} must be more than 0 and at most 1")
if STREAM_RETRY_AFTER_SECONDS < 1:
    raise ImproperlyConfigured(f"STREAM_RETRY_AFTER_SECONDS={STREAM_RETRY_AFTER_SECONDS} must be at least 1")
# Conversation websockets one web process holds open (conversations/socket_slots.py), in all and for one
# caller (a user, through their sessions, or an API key): each costs memory (about 57 KiB idle) and a file descriptor.
WEBSOCKET_MAX_OPEN = env_int("WEBSOCKET_MAX_OPEN", 5000, minimum=1)
WEBSOCKET_MAX_PER_CALLER = env_int("WEBSOCKET_MAX_PER_CALLER", 100, minimum=1)
# … and the sockets one credential (a key or a session cookie) may open a second in one process, in bursts
# of WEBSOCKET_HANDSHAKE_BURST, counted before it is looked up.
WEBSOCKET_HANDSHAKE_RATE = env_float("WEBSOCKET_HANDSHAKE_RATE", 20.0)
WEBSOCKET_HANDSHAKE_BURST = env_int("WEBSOCKET_HANDSHAKE_BURST", 100, minimum=1)
if not 0 < WEBSOCKET_HANDSHAKE_RATE < float("inf"):  # NaN is neither
    raise ImproperlyConfigured(f"WEBSOCKET_HANDSHAKE_RATE={WEBSOCKET_HANDSHAKE_RATE} must be a number more than 0")
# … and the handshakes one process runs at once (conversations/handshakes.py); the rest wait their turn this long.
WEBSOCKET_HANDSHAKE_CONCURRENCY = env_int("WEBSOCKET_HANDSHAKE_CONCURRENCY", 16, minimum=1)
WEBSOCKET_HANDSHAKE_WAIT_SECONDS = env_float("WEBSOCKET_HANDSHAKE_WAIT_SECONDS", 5.0)
if not 0 < WEBSOCKET_HANDSHAKE_WAIT_SECONDS < float("inf"):
    raise ImproperlyConfigured(
        f"WEBSOCKET_HANDSHAKE_WAIT_SECONDS={WEBSOCKET_HANDSHAKE_WAIT_SECONDS} must be a number more than 0"
    )
# Frames one socket may send (conversations/frame_budget.py): each re-reads its caller from the database.
WEBSOCKET_FRAME_RATE = env_float("WEBSOCKET_FRAME_RATE", 10.0)
WEBSOCKET_FRAME_BURST = env_int("WEBSOCKET_FRAME_BURST", 30, minimum=1)
if not 0 < WEBSOCKET_FRAME_RATE < float("inf"):  # NaN is neither
    raise ImproperlyConfigured(f"WEBSOCKET_FRAME_RATE={WEBSOCKET_FRAME_RATE} must be a number more than 0")
# The gate before admission (chatpresets/admission.py): its limit on turns in flight steps down while the
# 90th percentile of an interval's turns takes over the target of the service's own time to its first
# token, and grows while turns meet it and stay quick; the turns waiting for admission are capped outright.
# The target is the lower of TURN_ADMISSION_TARGET_MS and TURN_ADMISSION_TARGET_FACTOR times the process's
# own 90th percentile when it runs a turn alone (0: the fixed target only).
TURN_ADMISSION_TARGET_MS = env_int("TURN_ADMISSION_TARGET_MS", 45, minimum=1)
TURN_ADMISSION_TARGET_FACTOR = env_float("TURN_ADMISSION_TARGET_FACTOR", 2.5)
if not (TURN_ADMISSION_TARGET_FACTOR == 0 or TURN_ADMISSION_TARGET_FACTOR >= 1):  # NaN is neither
    raise ImproperlyConfigured(
        f"TURN_ADMISSION_TARGET_FACTOR={TURN_ADMISSION_TARGET_FACTOR} must be 0 (off) or at least 1"
    )
TURN_ADMISSION_INTERVAL_MS = env_int("TURN_ADMISSION_INTERVAL_MS", 100, minimum=1)
TURN_ADMISSION_MAX_PENDING = env_int("TURN_ADMISSION_MAX_PENDING", 16, minimum=1)
# The limit stays within twice the turns in flight lately, and at least this: room for a burst on an idle
# process, low enough that a process running a share of a busy host's turns still presses on its limit.
TURN_ADMISSION_IDLE_LIMIT = env_int("TURN_ADMISSION_IDLE_LIMIT", 8, minimum=2)
# On SIGTERM a web process refuses new turns and lets answers in flight finish for this long; the
# rest end `interrupted` (chatpresets/shutdown.py). Keep it under Kubernetes' terminationGracePeriodSeconds.
SHUTDOWN_GRACE_SECONDS = env_float("SHUTDOWN_GRACE_SECONDS", 20.0)
if SHUTDOWN_GRACE_SECONDS < 0:
    raise ImproperlyConfigured(f"SHUTDOWN_GRACE_SECONDS={SHUTDOWN_GRACE_SECONDS} must not be negative")
# An answer in flight is also a Redis stream (conversations/answer_relay.py), for `resume` on any process.
ANSWER_STREAM_MAXLEN = env_int("ANSWER_STREAM_MAXLEN", 5000)
# Deltas gathered this long become one entry: one Redis write per batch, not per token.
ANSWER_STREAM_BATCH_SECONDS = env_float("ANSWER_STREAM_BATCH_SECONDS", 0.05)
# Beyond STREAM_ABANDONED_SECONDS, so a follower of a dead process's answer still finds its stream.
ANSWER_STREAM_EXPIRY_SECONDS = env_int("ANSWER_STREAM_EXPIRY_SECONDS", STREAM_ABANDONED_SECONDS + 60)
if ANSWER_STREAM_EXPIRY_SECONDS <= STREAM_ABANDONED_SECONDS:
    raise ImproperlyConfigured("ANSWER_STREAM_EXPIRY_SECONDS must be more than STREAM_ABANDONED_SECONDS")
SUMMARY_MODEL = env_str("SUMMARY_MODEL", "")
SUMMARY_MAX_TOKENS = env_int("SUMMARY_MAX_TOKENS", 300)
# Experiments (presets/experiments/statistics.py): observations each variant needs before a verdict.
EXPERIMENT_MIN_SAMPLE = env_int("EXPERIMENT_MIN_SAMPLE", 100)
if EXPERIMENT_MIN_SAMPLE < 2:
    raise ImproperlyConfigured("EXPERIMENT_MIN_SAMPLE must be at least 2")
# Replays before approval (conversations/replays/): the most tokens one replay may spend; an
# organisation's `replay_max_token_budget` and each approver's budget may only go lower.
REPLAY_MAX_TOKEN_BUDGET = env_int("REPLAY_MAX_TOKEN_BUDGET", 200_000)
if REPLAY_MAX_TOKEN_BUDGET < 1:
    raise ImproperlyConfigured("REPLAY_MAX_TOKEN_BUDGET must be at least 1")
# A replay whose run has written nothing for this long lost its worker: the sweep queues it again.
REPLAY_STALLED_SECONDS = env_int("REPLAY_STALLED_SECONDS", 600)
if REPLAY_STALLED_SECONDS < 1:
    raise ImproperlyConfigured("REPLAY_STALLED_SECONDS must be at least 1")
# Guardrails (tenancy/metering/guardrails.py): per plan, rates per minute and token quotas per period;
# null turns a limit off. Organization.settings["limits"] overrides single values.
GUARDRAILS_ENABLED = env_bool("GUARDRAILS_ENABLED", True)
QUOTA_SOFT_LIMIT_PERCENT = env_float("QUOTA_SOFT_LIMIT_PERCENT", 80.0)
_DEFAULT_PLAN_LIMITS = {
    plan: {
        "org_rpm": rpm * 10, "user_rpm": rpm, "key_rpm": rpm * 2,
        "org_tpm": tpm * 10, "user_tpm": tpm, "key_tpm": tpm * 2,
        "org_tokens_day": day * 10, "user_tokens_day": day, "key_tokens_day": None,
        "org_tokens_month": day * 200, "user_tokens_month": None, "key_tokens_month": None,
        # Cost budgets, in the catalogue's currency: off unless an organisation sets them.
        "org_cost_day": None, "user_cost_day": None, "key_cost_day": None,
        "org_cost_month": None, "user_cost_month": None, "key_cost_month": None,
    }
    for plan, rpm, tpm, day in [
        ("free", 30, 100_000, 500_000),
        ("team", 120, 400_000, 4_000_000),
        ("enterprise", 600, 2_000_000, 40_000_000),
    ]
}  # fmt: skip
try:
    PLAN_LIMITS = json.loads(env_str("PLAN_LIMITS", "null")) or _DEFAULT_PLAN_LIMITS
except json.JSONDecodeError as error:
    raise ImproperlyConfigured(f"PLAN_LIMITS is not valid JSON: {error}") from error
GATEWAY_RETRIES = env_int("GATEWAY_RETRIES", 2)
GATEWAY_BACKOFF_SECONDS = env_float("GATEWAY_BACKOFF_SECONDS", 0.2)
GATEWAY_BREAKER_THRESHOLD = env_int("GATEWAY_BREAKER_THRESHOLD", 5)
GATEWAY_BREAKER_COOLDOWN_SECONDS = env_float("GATEWAY_BREAKER_COOLDOWN_SECONDS", 30.0)
# Input sizes (docs/guardrails.md): nothing one request sends may make the server build
# something much larger than the request. Django's own body limit also applies to JSON bodies.
REQUEST_BODY_MAX_BYTES = env_int("REQUEST_BODY_MAX_BYTES", 2_621_440)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_BODY_MAX_BYTES
PRESET_PROMPT_MAX_CHARS = env_int("PRESET_PROMPT_MAX_CHARS", 100_000)
PRESET_VARIABLE_MAX_CHARS = env_int("PRESET_VARIABLE_MAX_CHARS", 10_000)
PRESET_PLACEHOLDERS_MAX = env_int("PRESET_PLACEHOLDERS_MAX", 100)
PRESET_RENDERED_PROMPT_MAX_CHARS = env_int("PRESET_RENDERED_PROMPT_MAX_CHARS", 100_000)
MESSAGE_MAX_CHARS = env_int("MESSAGE_MAX_CHARS", 100_000)
COMPLETIONS_MAX_MESSAGES = env_int("COMPLETIONS_MAX_MESSAGES", 500)
COMPLETIONS_MAX_CHARS = env_int("COMPLETIONS_MAX_CHARS", 500_000)

TIKTOKEN_CACHE_DIR = env_str("TIKTOKEN_CACHE_DIR", str(BASE_DIR / "tiktoken_cache"))
os.environ.setdefault("TIKTOKEN_CACHE_DIR", TIKTOKEN_CACHE_DIR)

PRESET_TRASH_RETENTION_DAYS = env_int("PRESET_TRASH_RETENTION_DAYS", 30)
# A preset version's content is immutable, but versions stop being read: their copy in Redis expires.
PRESET_CONTENT_CACHE_SECONDS = env_int("PRESET_CONTENT_CACHE_SECONDS", 7 * 24 * 3600, minimum=1)
CONVERSATION_RETENTION_DAYS = env_int("CONVERSATION_RETENTION_DAYS", 30)
ORG_CREATION_ENABLED = env_bool("ORG_CREATION_ENABLED", True)
API_KEY_LAST_USED_RESOLUTION_SECONDS = env_int("API_KEY_LAST_USED_RESOLUTION_SECONDS", 60)
# Guessing protection (tenancy/key_guard.py): failed key checks per client address.
API_KEY_FAILURE_LIMIT = env_int("API_KEY_FAILURE_LIMIT", 20)
API_KEY_LOCKOUT_MINUTES = env_float("API_KEY_LOCKOUT_MINUTES", 10.0)
READINESS_TIMEOUT_SECONDS = env_float("READINESS_TIMEOUT_SECONDS", 2.0)

# Observability (chatpresets/observability/): Prometheus metrics at /metrics behind a bearer token,
# OpenTelemetry traces exported by OTLP/HTTP. Both off by default, and free while off.
METRICS_ENABLED = env_bool("METRICS_ENABLED", False)
# prometheus_client takes a variable that is set, even empty, for its multiprocess mode, and then writes its
# files into the working directory (read-only in a container: every metric would fail).
if os.environ.get("PROMETHEUS_MULTIPROC_DIR") == "":
    raise ImproperlyConfigured("PROMETHEUS_MULTIPROC_DIR is empty: unset it, or name the directory the processes share")
METRICS_TOKEN = env_secret("METRICS_TOKEN", default="")
if METRICS_ENABLED and not METRICS_TOKEN:
    raise ImproperlyConfigured("METRICS_ENABLED needs METRICS_TOKEN (or METRICS_TOKEN_FILE): /metrics is never open")
OTEL_EXPORTER_OTLP_ENDPOINT = env_str("OTEL_EXPORTER_OTLP_ENDPOINT", "")
OTEL_ENABLED = env_bool("OTEL_ENABLED", False)
OTEL_SERVICE_NAME = env_str("OTEL_SERVICE_NAME", "chatpresets")

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOG_FORMAT = env_str("LOG_FORMAT", "json" if PRODUCTION else "text")
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_context": {"()": "chatpresets.logging.RequestContextFilter"}},
    "formatters": {
        "text": {
            "()": "chatpresets.logging.ScrubbingFormatter",
            "format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s",
        },
        "json": {"()": "chatpresets.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_context"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # One INFO line per upstream HTTP call is noise next to our own request logs.
    "loggers": {name: {"level": "WARNING"} for name in ("httpx", "httpx2", "httpcore", "openai")},
}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
