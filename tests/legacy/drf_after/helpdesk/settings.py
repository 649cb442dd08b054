"""The migrated support desk's settings: served by an ASGI server. `python -m longrun audit .` finds no error or warning."""
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "legacy-helpdesk-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "rest_framework",
    "tickets",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "helpdesk.urls"
WSGI_APPLICATION = "helpdesk.wsgi.application"
ASGI_APPLICATION = "helpdesk.asgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
        # Under ASGI each request's sync work runs on a fresh thread: keep no connection (LR403).
        "CONN_MAX_AGE": 0,
        # No ATOMIC_REQUESTS (LR405): Django refuses it for async views. ProfileView's write is one UPDATE.
    }
}

LLM_BASE_URL = "http://127.0.0.1:9100/v1"
LLM_API_KEY = "simulator"
LLM_MODEL = "simulator"
LLM_TIMEOUT = 60  # seconds per read; the SDK's default is 10 minutes (LR205)
