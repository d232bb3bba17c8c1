from django.contrib.auth import views as auth_views
from django.urls import include, path
from oauth2_provider.urls import metadata_urlpatterns

from . import test_views

urlpatterns = [
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    # RFC 8414 at the origin too: /.well-known/oauth-authorization-server/o
    path("", include((metadata_urlpatterns, "oauth2_metadata"))),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    # TEST-ONLY endpoints: see stack/test_views.py
    path("test/stats", test_views.stats),
    path("test/reset-stats", test_views.reset_stats),
    path("test/revoke-refresh-tokens", test_views.revoke_refresh_tokens),
]
