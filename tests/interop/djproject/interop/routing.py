"""WebSocket routes of the interop test project (consumers add theirs here)."""
websocket_urlpatterns = []
