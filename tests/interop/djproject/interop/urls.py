"""URLs of the interop test project (the apps' views add theirs here)."""
urlpatterns = []

from interop.accounts import urlpatterns as accounts_urlpatterns  # noqa: E402

urlpatterns += accounts_urlpatterns
