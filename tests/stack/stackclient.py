"""Small client helpers for tests against the real stack (reads the env from stack.env)."""
import base64
import hashlib
import json
import os
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

ENV = os.environ


def secret(name: str) -> str:
    """Reads a client secret from the file named by env NAME (e.g. CLIENT_SECRET_FILE)."""
    with open(ENV[name]) as f:
        return f.read().strip()


def pkce() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge), RFC 7636."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(client_id: str, redirect_uri: str, state: str, challenge: str, scope="openid read write") -> str:
    return ENV["AS_AUTHORIZE_URL"] + "?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
        "state": state, "code_challenge": challenge, "code_challenge_method": "S256"})


def exchange_code(code: str, redirect_uri: str, verifier: str, client_id=None, secret_env="CLIENT_SECRET_FILE") -> requests.Response:
    client_id = client_id or ENV["CLIENT_ID"]
    return requests.post(ENV["AS_TOKEN_URL"], auth=(client_id, secret(secret_env)), timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier})


def refresh(refresh_token: str) -> requests.Response:
    return requests.post(ENV["AS_TOKEN_URL"], auth=(ENV["CLIENT_ID"], secret("CLIENT_SECRET_FILE")), timeout=10,
                         data={"grant_type": "refresh_token", "refresh_token": refresh_token})


def jwt_claims(jwt: str) -> dict:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class CallbackListener:
    """A loopback redirect listener on 127.0.0.1, port 0; keeps the first callback's query.

    With serve=False the port is bound and listening (connections wait in its backlog) but
    no request is answered until serve(): a browser's callback then cannot complete."""

    def __init__(self, serve=True):
        self.query: dict | None = None
        self.received = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if urlsplit(self.path).path == "/callback" and not outer.received.is_set():
                    outer.query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                    outer.received.set()
                body = b"<!DOCTYPE html><title>Signed in - test listener</title><p>You can close this tab."
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.redirect_uri = f"http://127.0.0.1:{self.server.server_address[1]}/callback"
        self.serving = False
        if serve:
            self.serve()

    def serve(self):
        """Starts answering requests (those already waiting first)."""
        if not self.serving:
            self.serving = True
            threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        if self.serving:
            self.server.shutdown()
        self.server.server_close()


def login_without_browser(client_id=None, secret_env="CLIENT_SECRET_FILE", redirect_uri="http://127.0.0.1:9/callback"):
    """Scripted authorization-code + PKCE login with requests (no browser, ~50 ms): the token response."""
    client_id = client_id or ENV["CLIENT_ID"]
    s = requests.Session()
    page = s.get(ENV["AS_URL"] + "/accounts/login/", timeout=10)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    s.post(ENV["AS_URL"] + "/accounts/login/", timeout=10, data={
        "username": "alice", "password": "alice-password-1", "csrfmiddlewaretoken": csrf})
    verifier, challenge = pkce()
    url = authorize_url(client_id, redirect_uri, "st", challenge)
    consent = s.get(url, timeout=10)
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', consent.text))
    form["allow"] = "Authorize"
    location = s.post(url, data=form, allow_redirects=False, timeout=10).headers["Location"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    r = exchange_code(code, redirect_uri, verifier, client_id, secret_env)
    r.raise_for_status()
    return r.json()
