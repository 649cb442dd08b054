"""The migrated project's settings: served by an ASGI server. `python -m longrun audit .` finds no error or warning."""
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "legacy-example-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "servestatic",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.staticfiles",
    "channels",
    "chat",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",  # was WhiteNoise (LR402)
    "django.middleware.common.CommonMiddleware",
    "chat.middleware.timing",  # now @sync_and_async_middleware (LR401)
]
ROOT_URLCONF = "chatsite.urls"
WSGI_APPLICATION = "chatsite.wsgi.application"
ASGI_APPLICATION = "chatsite.asgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
        # Under ASGI each request's sync work runs on a fresh thread: keep no connection (LR403). On PostgreSQL,
        # add "OPTIONS": {"pool": {"min_size": 0, "max_size": 20, "timeout": 10}} (Django's psycopg pool).
        "CONN_MAX_AGE": 0,
        # No ATOMIC_REQUESTS (LR405): Django refuses it for async views; atomic writes go in sync functions.
    }
}
# One process: the in-memory layer. More than one: "channels_redis.core.RedisChannelLayer" (LR404).
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

LLM_BASE_URL = "http://127.0.0.1:9100/v1"
LLM_API_KEY = "simulator"
LLM_MODEL = "simulator"
LLM_TIMEOUT = 60  # seconds per read; the SDK's default is 10 minutes (LR205)
ANSWER_WEBHOOK = ""  # a URL told about every answer, when set
