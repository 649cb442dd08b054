"""Settings for the Longrun demo: everything comes from the environment, with defaults that need nothing installed.

Every variable is listed in README.md and .env.example.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use true or false.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number.") from None


DEBUG = env_bool("DJANGO_DEBUG", True)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set and DJANGO_DEBUG is off. Set DJANGO_SECRET_KEY to a long random string, "
            "for example: export DJANGO_SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
    SECRET_KEY = "insecure-longrun-demo-key-only-for-debug"

ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()
]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

# `runserver` is ASGI (daphne's) by default so the page's WebSocket path works; DJANGO_RUNSERVER=wsgi gives back
# Django's threaded WSGI runserver, the "before" server.
RUNSERVER = os.environ.get("DJANGO_RUNSERVER", "asgi").strip().lower()
if RUNSERVER not in {"asgi", "wsgi"}:
    raise ImproperlyConfigured(f"DJANGO_RUNSERVER={RUNSERVER!r}: use asgi (daphne's runserver) or wsgi (Django's).")

INSTALLED_APPS = [
    *(["daphne"] if RUNSERVER == "asgi" else []),
    "servestatic",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "longrun",
    "llm_app",
]

# Django's own middleware in their async-native form (longrun.middleware: the same classes, their hooks run on the
# event loop under ASGI instead of one thread hop each), so an async view runs with no thread in front of it.
# ServeStatic is async-native already. Under WSGI each is Django's class unchanged.
MIDDLEWARE = [
    "longrun.middleware.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "longrun.middleware.SessionMiddleware",
    "longrun.middleware.CommonMiddleware",
    "longrun.middleware.CsrfViewMiddleware",
    "longrun.middleware.AuthenticationMiddleware",
    "longrun.middleware.MessageMiddleware",
    "longrun.middleware.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"
ASGI_APPLICATION = "project.asgi.application"

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
            ],
        },
    },
]

# Databases. CONN_MAX_AGE stays 0: under ASGI each request's sync work runs on a fresh thread, and a persistent
# connection would die with that thread still open (see docs/migration-guide.md). On PostgreSQL a pool hands
# connections back instead.
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(BASE_DIR / "db.sqlite3"),
            "CONN_MAX_AGE": 0,
        }
    }
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock up front instead of failing
    # mid-transaction; the timeout rides out the other server processes' writes.
    _db.setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
elif _db["ENGINE"] == "django.db.backends.postgresql":
    _db.setdefault("OPTIONS", {})["pool"] = {
        "min_size": 0,
        "max_size": env_int("DATABASE_POOL_SIZE", 20),
        "timeout": env_float("DATABASE_POOL_TIMEOUT", 10.0),
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Channels. Unset REDIS_URL means the in-memory layer: one process only, fine for the demo and tests.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    # redis-py 8 reads with a 5 s socket timeout by default, exactly as long as channels_redis blocks in BZPOPMIN
    # waiting for a message: every socket idle for 5 s would die with "Timeout reading" (channels_redis#422).
    # Reads may take longer than that wait; a Redis that answers nothing for 15 s is still found dead.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# Every key this project writes to Redis (rate-limit windows, cross-process locks) starts with this.
REDIS_KEY_PREFIX = os.environ.get("REDIS_KEY_PREFIX", "longrun")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", "") or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "servestatic.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"drop_traceback": {"()": "llm_app.logs.DropTraceback"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        "console_one_line": {"class": "logging.StreamHandler", "filters": ["drop_traceback"]},
    },
    "loggers": {
        # Not propagated: daphne gives the root logger a handler of its own, which would print each line twice.
        "llm_app": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO"), "propagate": False},
        "longrun": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO"), "propagate": False},
        # A foreign Host header is the client's doing: one line, not a stack trace per request.
        "django.security.DisallowedHost": {"handlers": ["console_one_line"], "propagate": False},
    },
}

# longrun's runtime blocking detector (docs/detector.md): true makes a blocking call on the event loop raise and
# log with the line in your code that made it; "log" only logs. Off by default: it patches the process.
_detect = os.environ.get("LONGRUN_DETECT_BLOCKING", "false").strip().lower()
LONGRUN_DETECT_BLOCKING: bool | str = "log" if _detect == "log" else env_bool("LONGRUN_DETECT_BLOCKING", False)

# The LLM. LLM_BASE_URL includes the /v1; the default is the built-in simulator (`manage.py llm_simulator`).
LLM_BASE_URL = os.environ.get("LLM_BASE_URL", "http://127.0.0.1:9100/v1")
LLM_API_KEY = os.environ.get("LLM_API_KEY", "simulator")
LLM_MODEL = os.environ.get("LLM_MODEL", "simulator")
LLM_TIMEOUT = env_float("LLM_TIMEOUT", 60.0)
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 2)
LLM_HTTP_BACKEND = os.environ.get("LLM_HTTP_BACKEND", "aiohttp").strip().lower()
if LLM_HTTP_BACKEND not in {"aiohttp", "httpx"}:
    raise ImproperlyConfigured(f"LLM_HTTP_BACKEND={LLM_HTTP_BACKEND!r}: use aiohttp or httpx.")
LLM_MAX_CONNECTIONS = env_int("LLM_MAX_CONNECTIONS", 1000)
LLM_MAX_PROMPT_CHARS = env_int("LLM_MAX_PROMPT_CHARS", 32_000)
LLM_MAX_TOKENS = env_int("LLM_MAX_TOKENS", 4096)
# Off by default (a local demo): anonymous JSON POSTs and sockets work. On: the endpoints need a logged-in user and,
# for HTTP, a CSRF token; sockets need a session and an allowed Origin.
LLM_REQUIRE_AUTH = env_bool("LLM_REQUIRE_AUTH", False)
# How often (seconds, at most) a process that records calls looks for calls left streaming by a dead process and
# closes them as errors (llm_app/recovery.py); it also looks once at its first call, so a restart cleans up.
LLM_ORPHAN_SWEEP_S = env_float("LLM_ORPHAN_SWEEP_S", 60.0)

# Limits that protect the upstream LLM (llm_app/services/limits.py, rate_limit.py; docs/deployment.md).
# LLM_MAX_IN_FLIGHT: LLM calls one process runs at once, every path together (0: no cap). A call past it waits up
# to LLM_QUEUE_TIMEOUT seconds for a slot, then gets 503 with Retry-After and is recorded as rejected.
LLM_MAX_IN_FLIGHT = env_int("LLM_MAX_IN_FLIGHT", 0)
LLM_QUEUE_TIMEOUT = env_float("LLM_QUEUE_TIMEOUT", 10.0)
# Generation requests per client (user, else IP address) in a sliding window: "30/min", "500/hour"; empty: none.
# Counted in Redis when REDIS_URL is set (every process shares the count), else per process. Past it: 429.
LLM_RATE_LIMIT = os.environ.get("LLM_RATE_LIMIT", "").strip()
# Behind a proxy: the header it writes the client's address to (X-Real-IP, X-Forwarded-For), read only from
# requests whose peer is in LLM_TRUSTED_PROXIES (addresses or networks). Empty: the peer's address is the client's.
LLM_CLIENT_IP_HEADER = os.environ.get("LLM_CLIENT_IP_HEADER", "").strip()
LLM_TRUSTED_PROXIES = [
    p.strip() for p in os.environ.get("LLM_TRUSTED_PROXIES", "127.0.0.1,::1").split(",") if p.strip()
]

# Where `manage.py serve` starts the simulator; it must match LLM_BASE_URL to be used.
LLM_SIMULATOR_TTFT_MS = env_int("LLM_SIMULATOR_TTFT_MS", 200)
LLM_SIMULATOR_TOKEN_MS = env_int("LLM_SIMULATOR_TOKEN_MS", 40)
LLM_SIMULATOR_TOKENS = env_int("LLM_SIMULATOR_TOKENS", 50)
