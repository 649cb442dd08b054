"""The demo's settings with Django's own middleware: the "before" of benchmarks/async_overhead.py.

Served by Django's own ASGI handler (benchmarks/stock_asgi.py): what a project migrated to ASGI runs before
longrun's handler and middleware.
"""

from project.settings import *  # noqa: F403

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
