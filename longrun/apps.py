from django.apps import AppConfig


class LongrunConfig(AppConfig):
    name = "longrun"
    verbose_name = "Longrun (ASGI migration toolkit)"
