from oauth2_provider.oauth2_validators import OAuth2Validator

# Clients that stand for servers demanding the exact registered redirect URI. DOT itself,
# following RFC 8252 §7.3, ignores the port of every loopback-IP redirect URI, even one
# registered with an explicit port; this test server restores exact matching for these.
EXACT_REDIRECT_CLIENTS = {"jira-agent-fixed"}


class StackValidator(OAuth2Validator):
    """DOT's validator plus exact redirect matching for some clients and name/e-mail claims."""

    oidc_claim_scope = None  # every claim below whenever `openid` is granted

    def validate_redirect_uri(self, client_id, redirect_uri, request, *args, **kwargs):
        if client_id in EXACT_REDIRECT_CLIENTS:
            return redirect_uri in request.client.redirect_uris.split()
        return super().validate_redirect_uri(client_id, redirect_uri, request, *args, **kwargs)

    def get_additional_claims(self, request):
        user = request.user
        return {"preferred_username": user.username, "name": user.get_full_name(), "email": user.email}
