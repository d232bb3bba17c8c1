"""Idempotent setup of the TEST-ONLY authorization server: migrate, keys, user alice, clients.

Client secrets are random per setup and written to STACK_STATE_DIR/<client_id>.secret (0600);
they are never printed. Re-running keeps existing keys and secrets, and resets the clients'
settings to the ones below."""
import os
import secrets
import subprocess
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import BaseCommand, call_command
from oauth2_provider.models import Application

FIXED_REDIRECT_PORT = 47931
CLIENTS = [
    # client_id, client_type, grant type, redirect URIs, skip_authorization
    ("jira-agent", Application.CLIENT_CONFIDENTIAL, Application.GRANT_AUTHORIZATION_CODE,
     "http://127.0.0.1/callback", False),  # any port: RFC 8252 §7.3
    ("jira-agent-fixed", Application.CLIENT_CONFIDENTIAL, Application.GRANT_AUTHORIZATION_CODE,
     f"http://127.0.0.1:{FIXED_REDIRECT_PORT}/callback", False),
    ("jira-agent-device", Application.CLIENT_PUBLIC, Application.GRANT_DEVICE_CODE, "", False),
    ("jira-gateway", Application.CLIENT_CONFIDENTIAL, Application.GRANT_CLIENT_CREDENTIALS, "", True),
]


def write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


class Command(BaseCommand):
    help = "Create the test stack's database, OIDC key, user alice and OAuth clients."

    def handle(self, *args, **options):
        state = Path(settings.STATE_DIR)
        state.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not (state / "django-secret-key").exists():
            write_private(state / "django-secret-key", secrets.token_urlsafe(48))
        key = state / "oidc-rsa.pem"
        if not key.exists():
            pem = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
                                 check=True, capture_output=True).stdout.decode()
            write_private(key, pem)
        call_command("migrate", verbosity=0, interactive=False)

        User = get_user_model()
        alice, _ = User.objects.get_or_create(username="alice")
        alice.email, alice.first_name, alice.last_name = "alice@example.test", "Alice", "Example"
        alice.set_password("alice-password-1")
        alice.save()

        for client_id, client_type, grant, redirects, skip in CLIENTS:
            app = Application.objects.filter(client_id=client_id).first() or Application(client_id=client_id)
            app.name, app.user = client_id, alice
            app.client_type, app.authorization_grant_type = client_type, grant
            app.redirect_uris, app.skip_authorization = redirects, skip
            app.algorithm = Application.RS256_ALGORITHM if grant == Application.GRANT_AUTHORIZATION_CODE else ""
            secret_file = state / f"{client_id}.secret"
            if client_type == Application.CLIENT_CONFIDENTIAL:
                if app.pk is None or not secret_file.exists():
                    secret = secrets.token_urlsafe(32)
                    write_private(secret_file, secret)
                    app.client_secret = secret  # hashed on save
            else:
                app.client_secret = ""
            app.save()
        self.stdout.write(f"stack_setup: ok ({len(CLIENTS)} clients, state in {state})")
