"""ASGI entry point: HTTP through Django, WebSockets through Channels (daphne, uvicorn, granian).

HTTP goes through longrun's handler rather than Django's: the same request cycle, without the thread Django's
handler gives each request for its signals and its ``response.close`` (``longrun/asgi.py`` says why). It also
answers the lifespan protocol: the demo warms up before its first user and drains its writes at exit.
"""

import os

from longrun.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

# Django must be set up before anything imports models: consumers come after this line, on purpose.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from llm_app.routing import websocket_urlpatterns  # noqa: E402
from longrun.detector.asgi import BlockingDetectorMiddleware  # noqa: E402

# BlockingDetectorMiddleware passes everything through unless LONGRUN_DETECT_BLOCKING is on.
application = BlockingDetectorMiddleware(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            # The server's start and stop: longrun's handler runs the project's warm-up and drain hooks.
            "lifespan": django_asgi_app,
            "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
        }
    )
)
