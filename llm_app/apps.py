from django.apps import AppConfig


class LlmAppConfig(AppConfig):
    name = "llm_app"
    verbose_name = "LLM chat"

    def ready(self) -> None:
        """Runs once per process at start-up: a mistyped limit stops the server here, with the fix; then the live
        dashboard subscribes to recording's call events, and the server's start and stop get the warm-up and the
        drain (``llm_app/services/lifecycle.py``)."""
        from llm_app.dashboard import live
        from llm_app.services import lifecycle, rate_limit
        from longrun.asgi import on_shutdown, on_startup

        rate_limit.validate_settings()
        live.subscribe()
        on_startup(lifecycle.warm)
        on_shutdown(lifecycle.drain)
