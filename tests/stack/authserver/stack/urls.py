from django.contrib.auth import views as auth_views
from django.urls import include, path
from oauth2_provider.urls import metadata_urlpatterns

from . import testonly

urlpatterns = [
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    # RFC 8414 at the origin too: /.well-known/oauth-authorization-server/o
    path("", include((metadata_urlpatterns, "oauth2_metadata"))),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    # TEST-ONLY endpoints: see stack/testonly.py
    path("test/stats", testonly.stats),
    path("test/reset-stats", testonly.reset_stats),
    path("test/revoke-refresh-tokens", testonly.revoke_refresh_tokens),
    path("test/access-token-lifetime", testonly.access_token_lifetime),
    path("test/expire-token", testonly.expire_token),
    path("test/fault", testonly.fault),
]
