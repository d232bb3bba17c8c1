#!/usr/bin/env bash
# stack.sh start|stop|status — the real test stack: authorization server (django-oauth-toolkit)
# and the Jira stand-in, in the background on 127.0.0.1.
#
# Environment: STACK_STATE_DIR (default <repo>/.run/stack), AS_PORT (18080), JIRA_PORT (18090),
# JIRA_CONTEXT (""), AS_ACCESS_TOKEN_SECONDS (300), STACK_PYTHON (<repo>/.venv/bin/python).
# start writes $STACK_STATE_DIR/stack.env (sourceable; secrets only as *_FILE paths), PIDs in
# *.pid (each server leads its own process group) and logs in *.log.
set -euo pipefail
repo=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
state=${STACK_STATE_DIR:-$repo/.run/stack}
mkdir -p -m 700 "$state"
state=$(cd "$state" && pwd)
export STACK_STATE_DIR=$state
python=${STACK_PYTHON:-$repo/.venv/bin/python}
as_port=${AS_PORT:-18080}
jira_port=${JIRA_PORT:-18090}
jira_context=${JIRA_CONTEXT:-}
as_url=http://127.0.0.1:$as_port
jira_url=http://127.0.0.1:$jira_port$jira_context
SERVERS=(authserver jira)

alive() { local pid; pid=$(cat "$state/$1.pid" 2>/dev/null) && ps -o stat= -p "$pid" | grep -qv '^Z'; }
# Live (non-zombie) members of process group $1: zombies linger here until PID 1 reaps them.
group_alive() { ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'; }

# wait_until NAME URL [SECONDS]: until URL answers (any HTTP status), failing early if NAME
# died. SECONDS (60) only guards against a hang: Django's first start on a loaded machine is slow.
wait_until() {
  local bound=${3:-60}
  local deadline=$((SECONDS + bound))
  while ((SECONDS < deadline)); do
    curl -s -o /dev/null --max-time 1 "$2" && return 0
    alive "$1" || { echo "stack: $1 exited; last lines of $state/$1.log:" >&2; tail -n 15 "$state/$1.log" >&2; return 1; }
    sleep 0.05
  done
  echo "stack: $1 did not answer at $2 within $bound s" >&2
  return 1
}

# launch NAME CMD...: in its own session/process group (setsid without fork: $! is the leader).
launch() {
  local name=$1; shift
  setsid "$@" </dev/null >>"$state/$name.log" 2>&1 &
  echo $! >"$state/$name.pid"
}

write_env() {
  local tmp=$state/stack.env.tmp
  {
    echo "# Written by scripts/stack.sh start. Source it: set -a; . stack.env; set +a"
    for kv in \
      "AS_URL=$as_url" \
      "AS_ISSUER=$as_url/o" \
      "AS_DISCOVERY_URL=$as_url/o/.well-known/openid-configuration" \
      "AS_AUTHORIZE_URL=$as_url/o/authorize/" \
      "AS_TOKEN_URL=$as_url/o/token/" \
      "AS_REVOKE_URL=$as_url/o/revoke_token/" \
      "AS_INTROSPECT_URL=$as_url/o/introspect/" \
      "AS_DEVICE_URL=$as_url/o/device-authorization/" \
      "AS_ACCESS_TOKEN_SECONDS=${AS_ACCESS_TOKEN_SECONDS:-300}" \
      "JIRA_URL=$jira_url" \
      "JIRA_STATS_URL=http://127.0.0.1:$jira_port/test/stats" \
      "CLIENT_ID=jira-agent" \
      "CLIENT_SECRET_FILE=$state/jira-agent.secret" \
      "FIXED_CLIENT_ID=jira-agent-fixed" \
      "FIXED_CLIENT_SECRET_FILE=$state/jira-agent-fixed.secret" \
      "FIXED_REDIRECT_PORT=47931" \
      "DEVICE_CLIENT_ID=jira-agent-device" \
      "GATEWAY_CLIENT_ID=jira-gateway" \
      "GATEWAY_CLIENT_SECRET_FILE=$state/jira-gateway.secret" \
      "BROWSER=$repo/tests/stack/browser" \
      "STACK_PYTHON=$python" \
      "STACK_STATE_DIR=$state"; do
      printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
    done
  } >"$tmp"
  mv "$tmp" "$state/stack.env"
}

start() {
  if alive authserver && alive jira; then echo "stack: already running ($state)"; return 0; fi
  stop >/dev/null
  umask 077
  local t0=$SECONDS
  AS_PORT=$as_port "$python" "$repo/tests/stack/authserver/manage.py" stack_setup >>"$state/authserver.log" 2>&1 \
    || { echo "stack: setup failed, see $state/authserver.log" >&2; tail -n 15 "$state/authserver.log" >&2; return 1; }
  AS_PORT=$as_port launch authserver "$python" "$repo/tests/stack/authserver/manage.py" runserver --noreload "127.0.0.1:$as_port"
  JIRA_PORT=$jira_port JIRA_CONTEXT=$jira_context AS_INTROSPECT_URL=$as_url/o/introspect/ \
    GATEWAY_CLIENT_ID=jira-gateway GATEWAY_CLIENT_SECRET_FILE=$state/jira-gateway.secret \
    JIRA_DATA_DIR=${JIRA_DATA_DIR:-$state/jira-data} \
    launch jira "$python" "$repo/tests/stack/jira_standin.py"
  mkdir -p "${JIRA_DATA_DIR:-$state/jira-data}"
  wait_until authserver "$as_url/o/.well-known/openid-configuration" 60 || { stop; return 1; }
  wait_until jira "http://127.0.0.1:$jira_port/test/stats" 60 || { stop; return 1; }
  write_env
  echo "stack: started in $((SECONDS - t0)) s: $as_url (issuer $as_url/o), $jira_url; env: $state/stack.env"
}

stop() {
  local name pid i
  for name in "${SERVERS[@]}"; do
    pid=$(cat "$state/$name.pid" 2>/dev/null) || continue
    kill -TERM -- "-$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      group_alive "$pid" || break
      sleep 0.05
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$state/$name.pid"
    echo "stack: stopped $name (pid $pid)"
  done
  rm -f "$state/stack.env"
}

status() {
  local name rc=0
  for name in "${SERVERS[@]}"; do
    if alive "$name"; then echo "$name: running, pid $(cat "$state/$name.pid")"; else echo "$name: stopped"; rc=3; fi
  done
  [ $rc = 0 ] && echo "env: $state/stack.env"
  return $rc
}

case "${1:-}" in
  start|stop|status) "$1" ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 64 ;;
esac
