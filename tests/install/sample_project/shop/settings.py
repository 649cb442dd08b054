"""A tiny sync-era project that a user is about to put on ASGI, with longrun installed to audit it.

What is wrong here is wrong on purpose, each line marked with the rule the audit reports there
(tests/install/test_matrix.py expects exactly those findings).
"""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "sample-project-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "longrun",
]

MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",  # LR406
    "shop.middleware.timing_middleware",  # LR401
]

ROOT_URLCONF = "shop.urls"
ASGI_APPLICATION = "shop.asgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
        "CONN_MAX_AGE": 60,  # LR403
    }
}

USE_TZ = True
