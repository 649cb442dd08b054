from django.apps import AppConfig
from django.core import checks


class LongrunConfig(AppConfig):
    name = "longrun"
    verbose_name = "Longrun (ASGI migration toolkit)"

    def ready(self) -> None:
        """Register the ASGI system checks (tag ``async``) and switch the blocking detector on if the settings ask.

        Runs once per process, when Django's app registry is ready, before any request or command.
        """
        from longrun.checks import check_async_settings

        checks.register(check_async_settings, "async")

        # LONGRUN_DETECT_BLOCKING on: blocking calls on the event loop fail from start-up (docs/detector.md).
        from longrun.detector.django import activate_from_settings

        activate_from_settings()
