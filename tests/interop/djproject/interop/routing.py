"""WebSocket routes of the interop test project (consumers add theirs here)."""
from django.urls import path

from interop.consumers import RoomConsumer

websocket_urlpatterns = [
    path("ws/room/<str:room>/", RoomConsumer.as_asgi()),
]
