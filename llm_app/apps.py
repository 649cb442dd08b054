from django.apps import AppConfig


class LlmAppConfig(AppConfig):
    name = "llm_app"
    verbose_name = "LLM chat"

    def ready(self) -> None:
        """Runs once per process at start-up: a mistyped limit stops the server here, with the fix; then the live
        dashboard subscribes to recording's call events."""
        from llm_app.dashboard import live
        from llm_app.services import rate_limit

        rate_limit.validate_settings()
        live.subscribe()
