#!/usr/bin/env bash
# The demo (README: `make demo`): starts the local stack (authorization server, Jira
# stand-in) in a private keyring session, starts the agent with a demo connection,
# authorizes in a browser — yours when a display is present, else headless Chromium —
# performs Jira actions through the proxy (the jira library, then the board client
# share/examples/jira-board.py), shows `status`, then stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
if [ -z "${DEMO_INNER:-}" ]; then
  # Every product: `jira-auth-agent` is the small front that execs `jira-auth-agent-full`
  # for all but `token`. A build failure stops the demo here, with the compiler's words.
  echo "demo: building (the first build takes about 6 minutes on 2 cores)…"
  swift build 2>&1 | { grep -Ev 'prohibited flag|^\[[0-9]+/[0-9]+\]' || true; }
  test -x .build/debug/jira-auth-agent && test -x .build/debug/jira-auth-agent-full
  # The display variables are kept for the inner script; the stack's $BROWSER is used only
  # when there is no display.
  exec env DEMO_INNER=1 DEMO_DISPLAY="${DISPLAY:-}" DEMO_WAYLAND="${WAYLAND_DISPLAY:-}" scripts/with-stack.sh -- "$0"
fi

bin=$PWD/.build/debug/jira-auth-agent
work=$(mktemp -d)
agent_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
  secret-tool clear connection demo 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
if [ -n "${DEMO_DISPLAY}${DEMO_WAYLAND}" ]; then
  export DISPLAY="$DEMO_DISPLAY" WAYLAND_DISPLAY="$DEMO_WAYLAND"; unset BROWSER
  echo "demo: a display is present; your browser will open for the sign-in (user alice, password alice-password-1)"
else
  echo "demo: no display; headless Chromium signs in as the demo user"
fi
export XDG_CONFIG_HOME=$work/config XDG_CONFIG_DIRS=$work/system JIRA_AUTH_AGENT_RUNTIME_DIR=$work/run
mkdir -p "$XDG_CONFIG_HOME/jira-auth-agent" "$XDG_CONFIG_DIRS"
cat > "$XDG_CONFIG_HOME/jira-auth-agent/connections.toml" <<TOML
[[connection]]
id = "demo"
name = "Demo Jira"
jira_url = "$JIRA_URL"
issuer = "$AS_ISSUER"
client_id = "$CLIENT_ID"
client_secret_file = "$CLIENT_SECRET_FILE"
scope = "openid read write"
default = true
TOML
port=${DEMO_PROXY_PORT:-7744}
"$bin" serve --proxy-port "$port" --log-level notice 2> "$work/agent.log" &
agent_pid=$!
up=""
for _ in $(seq 300); do
  # proxy_url is there only when a running agent answered (status also works without one).
  # (status exits 77 before the sign-in: not a failure here, hence the || true under pipefail)
  { "$bin" status --json 2>/dev/null || true; } | grep -q '"proxy_url"' && { up=1; break; }
  kill -0 "$agent_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$up" ] || { echo "demo: the agent did not come up; its log:" >&2; cat "$work/agent.log" >&2; exit 1; }

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
say "jira-auth-agent connections list"
"$bin" connections list
say "jira-auth-agent status   # before: no tokens yet, so it exits 77 (for scripts)"
"$bin" status || echo "(exit status $?)"
proxy=$("$bin" proxy-url --proxy-port "$port")
say "curl $proxy/rest/api/2/myself   # first Jira call: the agent runs the browser sign-in"
curl -sS --max-time 120 "$proxy/rest/api/2/myself"; echo
say "python: the jira library through the proxy (create, read back, update, search)"
"$STACK_PYTHON" - "$proxy" <<'PY'
import sys
from jira import JIRA
jira = JIRA(server=sys.argv[1], max_retries=0)   # no token in the client: the agent adds it
print("server:", jira.server_info()["serverTitle"], jira.server_info()["version"])
me = jira.myself()
print("me:", me["name"], "-", me["displayName"])
issue = jira.create_issue(project="DEMO", summary="Created through jira-auth-agent", issuetype={"name": "Task"})
print("created:", issue.key, "->", issue.self)
again = jira.issue(issue.key)
print("read back:", again.key, again.fields.summary)
again.update(summary="Updated through jira-auth-agent")
print("updated:", jira.issue(issue.key).fields.summary)
print("search:", [i.key for i in jira.search_issues("project = DEMO")])
PY
# The board client to copy (share/examples/jira-board.py): the jira library, no token of its own.
board() {
  say "python3 share/examples/jira-board.py $*"
  "$STACK_PYTHON" share/examples/jira-board.py "$@"
}
say "export JIRA_URL=$proxy   # the board client's server: the agent's proxy"
export JIRA_URL=$proxy
board boards
board columns 1
board move DEMO-1
board columns 1
say "jira-auth-agent status   # after"
"$bin" status
say "jira-auth-agent open DEMO-1 --print"
"$bin" open DEMO-1 --print
echo
echo "demo: done; stopping the agent and the stack"
