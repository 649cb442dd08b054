"""The legacy project's settings: served by gunicorn sync workers. Each `# LRnnn` marks what the audit reports."""
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "legacy-example-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.staticfiles", "chat"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",  # LR406
    "whitenoise.middleware.WhiteNoiseMiddleware",  # LR402
    "django.middleware.common.CommonMiddleware",  # LR406
    "chat.middleware.timing",  # LR401
]
ROOT_URLCONF = "chatsite.urls"
WSGI_APPLICATION = "chatsite.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
        "CONN_MAX_AGE": 60,  # LR403
        "ATOMIC_REQUESTS": True,  # LR405
    }
}
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

LLM_BASE_URL = "http://127.0.0.1:9100/v1"
LLM_API_KEY = "simulator"
LLM_MODEL = "simulator"
ANSWER_WEBHOOK = ""  # a URL told about every answer, when set
