from django.urls import path

from llm_app.views import async_, page, sync

app_name = "llm_app"

urlpatterns = [
    path("", page.chat, name="chat"),
    path("favicon.ico", page.favicon, name="favicon"),
    path("api/sync/complete", sync.complete, name="sync-complete"),
    path("api/sync/stream", sync.stream, name="sync-stream"),
    path("api/async/complete", async_.complete, name="async-complete"),
    path("api/async/stream", async_.stream, name="async-stream"),
]
