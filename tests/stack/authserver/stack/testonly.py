"""TEST-ONLY endpoints and counters. They let tests observe and disturb the server:
  GET  /test/stats                  token-endpoint calls by grant type, authorization codes issued
  POST /test/reset-stats            zero the counters
  POST /test/revoke-refresh-tokens  revoke every refresh token of alice (a revoke behind the
                                    agent's back)
  POST /test/access-token-lifetime?seconds=N  lifetime of access tokens issued from now on
  POST /test/expire-token           (body: an access token) it expires now, as if its time ran
                                    out while the agent's clock said otherwise
No authentication: this server only ever listens on 127.0.0.1 for tests."""
import threading
from collections import Counter
from urllib.parse import parse_qs

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.http import JsonResponse, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from oauth2_provider.models import AccessToken, Grant, RefreshToken

GRANT_NAMES = {
    "authorization_code": "authorization_code",
    "refresh_token": "refresh_token",
    "urn:ietf:params:oauth:grant-type:device_code": "device_code",
}
_lock = threading.Lock()
_counts: Counter = Counter()


def _bump(key: str) -> None:
    with _lock:
        _counts[key] += 1


class TokenEndpointStatsMiddleware:
    """Counts POST /o/token/ by grant_type, and failed ones (status >= 400) separately."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path != "/o/token/" or request.method != "POST":
            return self.get_response(request)
        # request.body first: it is cached, so DOT can still read request.POST afterwards.
        grant_type = parse_qs(request.body.decode("utf-8", "replace")).get("grant_type", [""])[0]
        name = GRANT_NAMES.get(grant_type, "other")
        _bump(f"token:{name}")
        response = self.get_response(request)
        if response.status_code >= 400:
            _bump(f"token_error:{name}")
        return response


_faults: dict = {}
FAULT_PATHS = {"token": "/o/token/", "revoke": "/o/revoke_token/"}


class FaultMiddleware:
    """POST /test/fault?endpoint=token|revoke&status=N: from then on that endpoint answers N
    with an HTML page, as a maintenance page or a broken proxy would (status=0 ends it).
    Placed inside the stats middleware, so faulted calls are still counted."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with _lock:
            faulted = {FAULT_PATHS[k]: v for k, v in _faults.items()}
        status = faulted.get(request.path) if request.method == "POST" else None
        if status:
            return HttpResponse("<html><body><h1>Service unavailable</h1></body></html>",
                                status=status, content_type="text/html")
        return self.get_response(request)


@csrf_exempt
@require_POST
def fault(request):
    endpoint = request.GET.get("endpoint", "")
    status = int(request.GET.get("status", "0"))
    if endpoint not in FAULT_PATHS or not (status == 0 or 400 <= status <= 599):
        return JsonResponse({"error": "endpoint must be token or revoke, status 0 or 400..599"}, status=400)
    with _lock:
        if status:
            _faults[endpoint] = status
        else:
            _faults.pop(endpoint, None)
    return JsonResponse({"endpoint": endpoint, "status": status})


@receiver(post_save, sender=Grant)
def _count_code(sender, created, **kwargs):
    if created:
        _bump("codes_issued")


@require_GET
def stats(request):
    with _lock:
        c = dict(_counts)
    names = ["authorization_code", "refresh_token", "device_code", "other"]
    return JsonResponse({
        "token_calls": {n: c.get(f"token:{n}", 0) for n in names},
        "token_errors": {n: c.get(f"token_error:{n}", 0) for n in names},
        "authorization_codes_issued": c.get("codes_issued", 0),
    })


@csrf_exempt
@require_POST
def reset_stats(request):
    with _lock:
        _counts.clear()
    return JsonResponse({"reset": True})


@csrf_exempt
@require_POST
def revoke_refresh_tokens(request):
    alice = get_user_model().objects.get(username="alice")
    revoked = 0
    for rt in RefreshToken.objects.filter(user=alice, revoked__isnull=True):
        rt.revoke()  # also deletes its access token
        revoked += 1
    return JsonResponse({"revoked": revoked})


@csrf_exempt
@require_POST
def access_token_lifetime(request):
    """POST /test/access-token-lifetime?seconds=N: access tokens issued from now on live N
    seconds (refresh and expiry tests); answers the previous value so a test can restore it."""
    from oauth2_provider.settings import oauth2_settings
    seconds = int(request.GET.get("seconds", "0"))
    if not 1 <= seconds <= 86400:
        return JsonResponse({"error": "seconds must be 1..86400"}, status=400)
    previous = oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS
    oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS = seconds
    # DOT caches one oauthlib core (holding token_expires_in) per view class on first use.
    from oauth2_provider.views.mixins import OAuthLibMixin
    pending = [OAuthLibMixin]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if "_oauthlib_core" in cls.__dict__:
            delattr(cls, "_oauthlib_core")
    return JsonResponse({"previous": previous, "seconds": seconds})


@csrf_exempt
@require_POST
def expire_token(request):
    import hashlib
    from datetime import timedelta
    from django.utils import timezone
    checksum = hashlib.sha256(request.body.strip()).hexdigest()  # DOT looks tokens up by checksum
    updated = AccessToken.objects.filter(token_checksum=checksum).update(
        expires=timezone.now() - timedelta(seconds=1))
    return JsonResponse({"expired": updated}, status=200 if updated else 404)
