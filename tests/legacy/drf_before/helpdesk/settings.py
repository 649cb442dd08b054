"""The legacy support desk's settings: a DRF API served by gunicorn sync workers. `# LRnnn` marks a finding."""
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
    "django.middleware.security.SecurityMiddleware",  # LR406
    "django.contrib.sessions.middleware.SessionMiddleware",  # LR406
    "django.middleware.common.CommonMiddleware",  # LR406
    "django.middleware.csrf.CsrfViewMiddleware",  # LR406
    "django.contrib.auth.middleware.AuthenticationMiddleware",  # LR406
]
ROOT_URLCONF = "helpdesk.urls"
WSGI_APPLICATION = "helpdesk.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
        "CONN_MAX_AGE": 600,  # LR403
        "ATOMIC_REQUESTS": True,  # harmless while every view is sync
    }
}

LLM_BASE_URL = "http://127.0.0.1:9100/v1"
LLM_API_KEY = "simulator"
LLM_MODEL = "simulator"
