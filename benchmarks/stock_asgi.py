"""Django's own ASGI handler over the demo (HTTP only): the "before" of benchmarks/async_overhead.py."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings_stock")

application = get_asgi_application()
