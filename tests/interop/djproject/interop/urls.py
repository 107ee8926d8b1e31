"""URLs of the interop test project (the apps' views add theirs here)."""
urlpatterns = []
