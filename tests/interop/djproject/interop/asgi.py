"""ASGI entry point of the interop test project, served by Daphne: HTTP goes
to Django, WebSocket routes to the Channels consumers in interop/routing.py."""
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "interop.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from interop.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": URLRouter(websocket_urlpatterns)})
