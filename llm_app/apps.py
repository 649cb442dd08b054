from django.apps import AppConfig


class LlmAppConfig(AppConfig):
    name = "llm_app"
    verbose_name = "LLM chat"

    def ready(self) -> None:
        """Runs once the app registry is ready: the live dashboard subscribes to recording's call events."""
        from llm_app.dashboard import live

        live.subscribe()
