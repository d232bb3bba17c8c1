"""Settings of the TEST-ONLY authorization server. Never deploy this: fast insecure hasher,
test endpoints that revoke tokens, secrets in a state directory.

Environment:
  STACK_STATE_DIR          SQLite DB, OIDC key, Django secret key, client secret files
  AS_PORT                  port of runserver (default 18080), used for the issuer
  AS_ACCESS_TOKEN_SECONDS  access-token lifetime (default 300)
"""
import os
from pathlib import Path

STATE_DIR = Path(os.environ.get("STACK_STATE_DIR", Path(__file__).resolve().parents[4] / ".run" / "stack"))
PORT = int(os.environ.get("AS_PORT", "18080"))
BASE_URL = f"http://127.0.0.1:{PORT}"


def _state_file(name: str) -> str:
    """Reads a file written by `manage.py stack_setup`; empty before the first setup."""
    path = STATE_DIR / name
    return path.read_text() if path.exists() else ""


SECRET_KEY = _state_file("django-secret-key") or "insecure-placeholder-before-setup"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "stack",  # before oauth2_provider: its templates override DOT's
    "oauth2_provider",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "stack.testonly.TokenEndpointStatsMiddleware",  # TEST-ONLY counters
    "stack.testonly.FaultMiddleware",  # TEST-ONLY: /test/fault
]
ROOT_URLCONF = "stack.urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": STATE_DIR / "db.sqlite3",
                         "OPTIONS": {"timeout": 10}}}
# TEST-ONLY: DOT hashes client secrets with the password hasher; PBKDF2 costs ~250 ms a call.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = []
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/o/device/"
STATIC_URL = "/static/"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING = {"version": 1, "disable_existing_loggers": False,
           "handlers": {"console": {"class": "logging.StreamHandler"}},
           "loggers": {"django.request": {"handlers": ["console"], "level": "ERROR"}}}

OAUTH2_PROVIDER = {
    "OAUTH2_VALIDATOR_CLASS": "stack.validator.StackValidator",
    "PKCE_REQUIRED": True,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "ACCESS_TOKEN_EXPIRE_SECONDS": int(os.environ.get("AS_ACCESS_TOKEN_SECONDS", "300")),
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": _state_file("oidc-rsa.pem"),
    "OIDC_ISS_ENDPOINT": f"{BASE_URL}/o",
    "SCOPES": {
        "openid": "OpenID Connect",
        "profile": "Your name",
        "email": "Your e-mail address",
        "read": "Read Jira",
        "write": "Write Jira",
        "introspection": "Introspect tokens (gateway only)",
    },
    "DEFAULT_SCOPES": ["read", "write"],
    "OAUTH_DEVICE_VERIFICATION_URI": f"{BASE_URL}/o/device/",
    "OAUTH_DEVICE_VERIFICATION_URI_COMPLETE": f"{BASE_URL}/o/device/?user_code={{user_code}}",
    "DEVICE_FLOW_INTERVAL": 1,
}
