"""WebSocket routes, wrapped by project/asgi.py in the origin validator and the auth stack."""

from django.urls import path

from llm_app.consumers import ChatConsumer
from llm_app.dashboard.consumers import DashboardConsumer

websocket_urlpatterns = [
    path("ws/chat/", ChatConsumer.as_asgi()),
    path("ws/admin/dashboard/", DashboardConsumer.as_asgi()),
]
