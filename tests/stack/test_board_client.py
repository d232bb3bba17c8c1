"""share/examples/jira-board.py as a user runs it, against the Jira stand-in.

Run: scripts/with-stack.sh -- .venv/bin/python -m pytest -q tests/stack/test_board_client.py
The client holds no token when it goes through the agent; here it talks to the stand-in (behind
its gateway) directly, so it gets one through JIRA_BOARD_TOKEN_FILE, never on the command line.
The demo (scripts/demo.sh) runs the same client through the agent's proxy.
"""
import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from jira import JIRA

import stackclient as sc

ENV = os.environ
pytestmark = pytest.mark.skipif("AS_URL" not in ENV, reason="needs scripts/with-stack.sh")
CLIENT = Path(__file__).resolve().parents[2] / "share" / "examples" / "jira-board.py"
SEEDED = {f"DEMO-{n}" for n in range(1, 8)}


@pytest.fixture(scope="module")
def token_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("board") / "token"
    path.touch(mode=0o600)
    path.write_text(sc.login_without_browser()["access_token"])
    return path


@pytest.fixture(scope="module")
def jira(token_file):
    return JIRA(server=ENV["JIRA_URL"], token_auth=token_file.read_text(), max_retries=0)


def board(*args, server=None, token_file=None, env=None):
    e = {k: v for k, v in ENV.items() if k not in ("JIRA_URL", "JIRA_BOARD_TOKEN_FILE")}
    if token_file:
        e["JIRA_BOARD_TOKEN_FILE"] = str(token_file)
    e.update(env or {})
    server_args = ["--server", server] if server else []
    return subprocess.run([sys.executable, str(CLIENT), *server_args, *args], env=e, capture_output=True,
                          text=True, timeout=60)


def run_ok(token_file, *args):
    out = board(*args, server=ENV["JIRA_URL"], token_file=token_file)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    return out.stdout


def parse_columns(text):
    """{column: [keys]} from `columns` output: a header line per column, issues indented."""
    cols, current = {}, None
    for line in text.splitlines()[1:]:
        if line and not line.startswith(" "):
            current = line.rsplit(" (", 1)[0]
            cols[current] = []
        elif line.strip():
            cols[current].append(line.split()[0])
    return cols


def test_boards(token_file):
    assert run_ok(token_file, "boards").splitlines() == ["   1  scrum   DEMO board  (DEMO)"]


def test_columns_show_the_active_sprint_or_all(token_file):
    out = run_ok(token_file, "columns", "1")
    assert out.splitlines()[0] == "DEMO board (board 1, scrum): sprint DEMO Sprint 2"
    cols = {k: [i for i in v if i in SEEDED] for k, v in parse_columns(out).items()}
    assert cols == {"To Do": ["DEMO-1"], "In Progress": ["DEMO-2", "DEMO-4"], "Done": []}
    every = {k: [i for i in v if i in SEEDED] for k, v in parse_columns(run_ok(token_file, "columns", "1", "--all")).items()}
    assert every == {"To Do": ["DEMO-1", "DEMO-5", "DEMO-6", "DEMO-7"], "In Progress": ["DEMO-2", "DEMO-4"],
                     "Done": ["DEMO-3"]}


def test_sprint_add_then_move_through_every_column(token_file, jira):
    key = jira.create_issue(project="DEMO", summary="Walk the board", issuetype={"name": "Task"}).key
    assert key not in sum(parse_columns(run_ok(token_file, "columns", "1")).values(), [])
    assert run_ok(token_file, "sprint-add", key) == f"{key}: added to DEMO Sprint 2 (sprint 2, board 1)\n"
    assert key in parse_columns(run_ok(token_file, "columns", "1"))["To Do"]
    assert run_ok(token_file, "move", key) == f"{key}: To Do -> In Progress (transition 'In Progress')\n"
    assert jira.issue(key).fields.status.name == "In Progress"
    assert key in parse_columns(run_ok(token_file, "columns", "1"))["In Progress"]
    run_ok(token_file, "move", key)
    assert key in parse_columns(run_ok(token_file, "columns", "1"))["Done"]
    last = board("move", key, server=ENV["JIRA_URL"], token_file=token_file)
    assert last.returncode == 1 and last.stderr == f"Error: {key} is already in the last column (Done).\n"


def test_rank_before_and_after(token_file, jira):
    x, y = (jira.create_issue(project="DEMO", summary=s, issuetype={"name": "Task"}).key for s in ("X", "Y"))

    def order():
        keys = [i["key"] for i in jira._get_json("board/1/issue", params={"maxResults": 1000},
                                                 base=jira.AGILE_BASE_URL)["issues"]]
        return keys.index(y) - keys.index(x)

    assert order() == 1
    assert run_ok(token_file, "rank", y, "--before", x) == f"{y}: ranked before {x}\n"
    assert order() == -1
    run_ok(token_file, "rank", y, "--after", x)
    assert order() == 1
    bad = board("rank", "DEMO-99999", "--after", x, server=ENV["JIRA_URL"], token_file=token_file)
    assert bad.returncode == 1 and "DEMO-99999" in bad.stderr and bad.stderr.startswith("Error: not ranked:")


def test_errors_say_what_to_do(token_file, tmp_path):
    unknown = board("move", "DEMO-99999", server=ENV["JIRA_URL"], token_file=token_file)
    assert unknown.returncode == 1 and "Issue does not exist" in unknown.stderr
    no_token = board("boards", server=ENV["JIRA_URL"])
    assert no_token.returncode == 77 and "jira-auth-agent login" in no_token.stderr
    # Nothing listens on a bound port without listen(): the agent is not running.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        down = board("boards", server=f"http://127.0.0.1:{s.getsockname()[1]}/jira/demo")
    assert down.returncode == 69 and "jira-auth-agent serve" in down.stderr and "systemctl --user" in down.stderr
    # No --server, no JIRA_URL and no jira-auth-agent on PATH.
    lost = board("boards", env={"PATH": str(tmp_path)})
    assert lost.returncode == 78 and "jira-auth-agent is not on PATH" in lost.stderr


def test_proxy_errors_are_passed_on():
    """The agent's own 401 (no sign-in yet, and none possible) reaches the user with its advice."""
    body = json.dumps({"error": "authorization_required",
                       "message": "no valid token for connection 'demo'; authorize with: jira-auth-agent login demo"})

    class Proxy(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        out = board("boards", server=f"http://127.0.0.1:{server.server_address[1]}/jira/demo")
    finally:
        server.shutdown()
        server.server_close()
    assert out.returncode == 77
    assert out.stderr == "Error: no valid token for connection 'demo'; authorize with: jira-auth-agent login demo.\n"
