"""WSGI entry point: the "before" servers (gunicorn sync or gthread workers, Django's threaded runserver)."""

import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

application = get_wsgi_application()

# Load the URLconf, and with it the views and the LLM SDK, while the worker starts rather than in its first
# request: a pool of fresh workers would otherwise make one user per worker wait for the imports.
get_resolver().url_patterns  # noqa: B018
