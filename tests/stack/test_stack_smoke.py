"""Smoke tests of the real test stack. Run: scripts/with-stack.sh -- .venv/bin/pytest -q tests/stack"""
import hashlib
import os
import secrets
import subprocess
import time

import pytest
import requests
import secretstorage

import stackclient as sc

ENV = os.environ
pytestmark = pytest.mark.skipif("AS_URL" not in ENV, reason="needs scripts/with-stack.sh")


@pytest.fixture(scope="module")
def tokens():
    return sc.login_without_browser()


def test_browser_login_authorization_code_pkce():
    # The listener answers nothing until $BROWSER has returned, so the sign-in cannot finish
    # before: a $BROWSER that waited for it (did not detach) would run into the timeout.
    listener = sc.CallbackListener(serve=False)
    try:
        verifier, challenge = sc.pkce()
        state = secrets.token_urlsafe(16)
        subprocess.run([ENV["BROWSER"], sc.authorize_url(ENV["CLIENT_ID"], listener.redirect_uri, state, challenge)],
                       check=True, timeout=30)
        listener.serve()
        assert listener.received.wait(45), "no callback from the browser"
        assert listener.query["state"] == state
        r = sc.exchange_code(listener.query["code"], listener.redirect_uri, verifier)
        assert r.status_code == 200, r.text
        body = r.json()
        assert {"access_token", "refresh_token", "id_token"} <= body.keys()
        claims = sc.jwt_claims(body["id_token"])
        assert claims["iss"] == ENV["AS_ISSUER"] and claims["aud"] == ENV["CLIENT_ID"]
        assert claims["preferred_username"] == "alice"
    finally:
        listener.close()


def test_browser_denies_consent():
    listener = sc.CallbackListener()
    try:
        _, challenge = sc.pkce()
        url = sc.authorize_url(ENV["CLIENT_ID"], listener.redirect_uri, "deny-state", challenge)
        subprocess.run([ENV["BROWSER"], url], check=True, timeout=30, env={**ENV, "BROWSER_CONSENT": "deny"})
        assert listener.received.wait(45)
        assert listener.query == {"error": "access_denied", "state": "deny-state"}
    finally:
        listener.close()


def test_browser_approves_device_code():
    d = requests.post(ENV["AS_DEVICE_URL"], data={"client_id": ENV["DEVICE_CLIENT_ID"]}, timeout=10).json()
    subprocess.run([ENV["BROWSER"], d["verification_uri_complete"]], check=True, timeout=30,
                   env={**ENV, "BROWSER_MODE": "device"})
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        r = requests.post(ENV["AS_TOKEN_URL"], timeout=10, data={
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": d["device_code"], "client_id": ENV["DEVICE_CLIENT_ID"]})
        if r.status_code == 200 or r.json().get("error") != "authorization_pending":
            break
        time.sleep(d["interval"])
    assert r.status_code == 200, r.text
    assert "access_token" in r.json()


def bearer(token: str) -> dict:
    return {"Authorization": "Bearer " + token}


def test_gateway_requires_bearer_token(tokens):
    myself = ENV["JIRA_URL"] + "/rest/api/2/myself"
    r = requests.get(myself, timeout=10)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert 'error="invalid_token"' not in r.headers["WWW-Authenticate"]
    r = requests.get(myself, headers=bearer("not-a-token"), timeout=10)
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    r = requests.get(myself, headers=bearer(tokens["access_token"]), timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "alice" and r.json()["emailAddress"] == "alice@example.test"


def test_gateway_refuses_a_revoked_token_within_its_cache_time():
    t = sc.login_without_browser()
    myself = ENV["JIRA_URL"] + "/rest/api/2/myself"
    assert requests.get(myself, headers=bearer(t["access_token"]), timeout=10).status_code == 200  # now cached
    r = requests.post(ENV["AS_REVOKE_URL"], auth=(ENV["CLIENT_ID"], sc.secret("CLIENT_SECRET_FILE")), timeout=10,
                      data={"token": t["access_token"], "token_type_hint": "access_token"})
    assert r.status_code == 200
    revoked, bound = time.monotonic(), float(ENV["GATEWAY_CACHE_SECONDS"]) + 3
    while True:
        r = requests.get(myself, headers=bearer(t["access_token"]), timeout=10)
        if r.status_code != 200 or time.monotonic() - revoked > bound:
            break
        time.sleep(0.05)
    assert r.status_code == 401, f"a revoked token still accepted {bound} s after revocation"
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


def test_gateway_ignores_a_spoofed_identity_field(tokens):
    myself = ENV["JIRA_URL"] + "/rest/api/2/myself"
    for name in ("X-Authenticated-User", "x-authenticated-user"):
        r = requests.get(myself, headers={**bearer(tokens["access_token"]), name: "mallory"}, timeout=10)
        assert r.status_code == 200 and r.json()["name"] == "alice", r.text
        r = requests.get(myself, headers={name: "alice"}, timeout=10)
        assert r.status_code == 401
    # The stand-in itself trusts only that field: a request that bypasses the gateway has none.
    r = requests.get(ENV["JIRA_DIRECT_URL"] + "/rest/api/2/myself", headers=bearer(tokens["access_token"]), timeout=10)
    assert r.status_code == 401


def test_test_hooks_reach_the_standin_through_the_gateway(tokens):
    root = ENV["JIRA_URL"].removesuffix(ENV.get("JIRA_CONTEXT", ""))
    myself = ENV["JIRA_URL"] + "/rest/api/2/myself"
    t = sc.login_without_browser()
    try:
        assert requests.post(root + "/test/reject-token", data=t["access_token"], timeout=10).status_code == 200
        r = requests.get(myself, headers=bearer(t["access_token"]), timeout=10)
        assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
        assert requests.get(myself, headers=bearer(tokens["access_token"]), timeout=10).status_code == 200
        assert requests.post(root + "/test/reject-all", data="1", timeout=10).json() == {"reject_all": True}
        r = requests.get(myself, headers=bearer(tokens["access_token"]), timeout=10)
        assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    finally:
        requests.post(root + "/test/reject-all", data="0", timeout=10)
    assert requests.get(myself, headers=bearer(tokens["access_token"]), timeout=10).status_code == 200


def test_jira_library_against_standin(tokens):
    from jira import JIRA

    jira = JIRA(server=ENV["JIRA_URL"], token_auth=tokens["access_token"], max_retries=0)
    assert jira.server_info()["versionNumbers"][0] >= 9
    assert jira.myself()["name"] == "alice"
    issue = jira.issue("DEMO-1")
    issue.update(summary="Updated by the smoke test")
    assert jira.issue("DEMO-1").fields.summary == "Updated by the smoke test"
    created = jira.create_issue(project="DEMO", summary="Smoke", issuetype={"name": "Task"})
    assert created.self.startswith(ENV["JIRA_URL"] + "/rest/api/2/issue/")
    assert created.key in [i.key for i in jira.search_issues("project = DEMO")]


def test_refresh_rotates_and_old_refresh_token_is_refused():
    first = sc.login_without_browser()
    r = sc.refresh(first["refresh_token"])
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    replay = sc.refresh(first["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"


def test_revoke_behind_the_agents_back():
    t = sc.login_without_browser()
    assert requests.post(ENV["AS_URL"] + "/test/revoke-refresh-tokens", timeout=10).json()["revoked"] >= 1
    assert sc.refresh(t["refresh_token"]).json()["error"] == "invalid_grant"


def test_fixed_client_requires_exact_redirect_port():
    good = f"http://127.0.0.1:{ENV['FIXED_REDIRECT_PORT']}/callback"
    assert "access_token" in sc.login_without_browser(ENV["FIXED_CLIENT_ID"], "FIXED_CLIENT_SECRET_FILE", good)
    with pytest.raises(Exception):
        sc.login_without_browser(ENV["FIXED_CLIENT_ID"], "FIXED_CLIENT_SECRET_FILE", "http://127.0.0.1:47932/callback")


def test_discovery_issuer_matches():
    meta = requests.get(ENV["AS_DISCOVERY_URL"], timeout=10).json()
    assert meta["issuer"] == ENV["AS_ISSUER"]
    assert meta["token_endpoint"] == ENV["AS_TOKEN_URL"]


def test_keyring_session_has_secret_service():
    assert ENV["KEYRING_SITUATION"] == "unlocked"
    conn = secretstorage.dbus_init()
    try:
        collection = secretstorage.get_default_collection(conn)
        assert not collection.is_locked()
        attrs = {"xdg:schema": "io.github.jira-auth-agent.Tokens", "connection": "smoke"}
        collection.create_item("Jira tokens - smoke", attrs, b'{"access_token":"x"}', replace=True)
        [item] = list(collection.search_items(attrs))
        assert item.get_secret() == b'{"access_token":"x"}'
        item.delete()
    finally:
        conn.close()


def test_stats_count_calls_and_tokens():
    # Its own tokens: the module fixture's were revoked by the revoke-behind-the-back test
    # (revoking a refresh token ends its access token too), which only the gateway's short
    # introspection cache could hide.
    requests.post(ENV["AS_URL"] + "/test/reset-stats", timeout=10)
    requests.post(ENV["JIRA_STATS_URL"].replace("/stats", "/reset-stats"), timeout=10)
    fresh = sc.login_without_browser()
    refreshed = sc.refresh(fresh["refresh_token"])
    refreshed.raise_for_status()
    tokens = refreshed.json()
    stats = requests.get(ENV["AS_URL"] + "/test/stats", timeout=10).json()
    assert stats["token_calls"]["authorization_code"] == 1
    assert stats["token_calls"]["refresh_token"] == 1
    assert stats["authorization_codes_issued"] == 1
    requests.get(ENV["JIRA_URL"] + "/rest/api/2/myself", timeout=10)  # stopped at the gateway
    requests.get(ENV["JIRA_URL"] + "/rest/api/2/myself", headers=bearer(tokens["access_token"]), timeout=10)
    jira = requests.get(ENV["JIRA_STATS_URL"], timeout=10).json()
    assert jira["authorization"] == {"none": 0, "rejected": 0, "valid": 1}
    assert jira["token_sha256"] == [hashlib.sha256(tokens["access_token"].encode()).hexdigest()]


# The corporate network pieces: the gateway on TLS and on mutual TLS + an API key field, and a
# forward proxy with Basic authentication. Checked with curl, the reference client; secrets (token,
# key, proxy password) go to curl in a config on stdin, never on its command line.

def curl(url: str, *args: str, secrets: dict[str, str] | None = None) -> tuple[int, str, str, str]:
    """curl [args] url with the secret options from a config on stdin: (exit code, HTTP status,
    the proxy's answer to CONNECT, stderr)."""
    config = "".join(f'{k} = "{v}"\n' for k, v in (secrets or {}).items())
    r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "--max-time", "10", "-w", "%{http_code} %{http_connect}",
                        "-K", "-", *args, url], input=config, capture_output=True, text=True, timeout=30)
    status, connect = r.stdout.split()
    return r.returncode, status, connect, r.stderr


def test_gateway_over_tls_checks_the_token_like_the_plain_one():
    token = sc.login_without_browser()["access_token"]
    myself = ENV["GATEWAY_HTTPS_URL"] + "/rest/api/2/myself"
    ca = ("--cacert", ENV["STACK_CA_FILE"])
    assert curl(myself, *ca, secrets={"header": "Authorization: Bearer " + token})[:2] == (0, "200")
    assert curl(myself, *ca)[:2] == (0, "401")
    # The server certificate is for 127.0.0.1 and localhost, from the test CA only.
    assert curl(myself.replace("127.0.0.1", "localhost"), *ca)[:2] == (0, "401")
    rc, _, _, err = curl(myself)
    assert rc == 60, err  # unknown CA
    rc, _, _, err = curl(myself, *ca, "--tlsv1.1", "--tls-max", "1.1")
    assert rc != 0, "TLS 1.1 accepted"


def test_gateway_mtls_requires_a_client_certificate_and_the_key_field():
    token = sc.login_without_browser()["access_token"]
    myself = ENV["GATEWAY_MTLS_URL"] + "/rest/api/2/myself"
    ca = ("--cacert", ENV["STACK_CA_FILE"])
    cert = ("--cert", ENV["STACK_CLIENT_CERT_FILE"], "--key", ENV["STACK_CLIENT_KEY_FILE"])
    key = open(ENV["STACK_GATEWAY_KEY_FILE"]).read().strip()
    assert os.stat(ENV["STACK_GATEWAY_KEY_FILE"]).st_mode & 0o077 == 0
    assert os.stat(ENV["STACK_CLIENT_KEY_FILE"]).st_mode & 0o077 == 0
    auth = {"header": "Authorization: Bearer " + token}
    rc, status, _, err = curl(myself, *ca, "-H", "X-Gateway-Key: " + "0" * len(key), secrets=auth)
    assert rc in (35, 56) and status == "000", err  # handshake refused (TLS 1.2) or alert after it (1.3)
    rc, status, _, err = curl(myself, *ca, "--tls-max", "1.2", secrets=auth)
    assert rc == 35, err
    assert curl(myself, *ca, *cert, secrets=auth)[:2] == (0, "403")
    assert curl(myself, *ca, *cert, "-H", "X-Gateway-Key: " + "0" * len(key), secrets=auth)[:2] == (0, "403")
    # Key and certificate: then the usual token check.
    assert curl(myself, *ca, *cert, secrets={"header": "X-Gateway-Key: " + key})[:2] == (0, "401")
    r = subprocess.run(["curl", "-sS", "--max-time", "10", "-K", "-", *ca, *cert, myself], capture_output=True,
                       text=True, timeout=30, input=f'header = "X-Gateway-Key: {key}"\nheader = "{auth["header"]}"\n')
    assert r.returncode == 0 and '"name": "alice"' in r.stdout, r.stderr


def test_forward_proxy_tunnels_with_basic_auth_and_logs_connect():
    token = sc.login_without_browser()["access_token"]
    myself = ENV["GATEWAY_HTTPS_URL"] + "/rest/api/2/myself"
    port = ENV["GATEWAY_HTTPS_URL"].split(":")[2].split("/")[0]
    password = open(ENV["FORWARD_PROXY_PASSWORD_FILE"]).read().strip()
    assert os.stat(ENV["FORWARD_PROXY_PASSWORD_FILE"]).st_mode & 0o077 == 0
    log = ENV["FORWARD_PROXY_LOG"]
    line = f"CONNECT 127.0.0.1:{port} "

    def connects() -> int:
        with open(log) as f:
            return sum(line in entry for entry in f)

    via = ("-p", "-x", ENV["FORWARD_PROXY_URL"], "--cacert", ENV["STACK_CA_FILE"])
    before = connects()
    rc, status, connect, err = curl(myself, *via, secrets={
        "proxy-user": f"{ENV['FORWARD_PROXY_USER']}:{password}", "header": "Authorization: Bearer " + token})
    assert (rc, status, connect) == (0, "200", "200"), err
    assert connects() == before + 1
    rc, status, connect, _ = curl(myself, *via, secrets={"header": "Authorization: Bearer " + token})
    assert rc != 0 and connect == "407"
    # CONNECT only to the listed ports: not to the plain gateway.
    plain = ENV["JIRA_URL"] + "/rest/api/2/myself"
    rc, _, connect, _ = curl(plain, *via, secrets={"proxy-user": f"{ENV['FORWARD_PROXY_USER']}:{password}"})
    assert rc != 0 and connect == "403"
    with open(log) as f:
        assert password not in f.read()


def test_start_jira_adds_a_plain_gateway_pair(tmp_path):
    # What Tests/TestSupport/StandIn.swift does for a second Jira, with this process's environment
    # (GATEWAY_HTTPS_PORT and the like from with-stack.sh, which start-jira must ignore).
    import socket
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    state = tmp_path / "second"
    state.mkdir(mode=0o700)
    env = {**ENV, "STACK_STATE_DIR": str(state), "GATEWAY_PORT": str(ports[0]), "JIRA_PORT": str(ports[1])}
    stack = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "stack.sh")
    try:
        r = subprocess.run([stack, "start-jira"], env=env, capture_output=True, text=True, timeout=90)
        assert r.returncode == 0, r.stderr
        assert "SSLEngine" not in (state / "gateway.conf").read_text()
        token = sc.login_without_browser()["access_token"]
        r = requests.get(f"http://127.0.0.1:{ports[0]}/rest/api/2/myself", headers=bearer(token), timeout=10)
        assert r.status_code == 200 and r.json()["name"] == "alice"
    finally:
        subprocess.run([stack, "stop"], env=env, capture_output=True, timeout=30)
