#!/usr/bin/env bash
# keyring-session.sh MODE -- CMD ARGS...
#
# Runs CMD on a private D-Bus session bus with a fresh XDG_RUNTIME_DIR and XDG_DATA_HOME
# (HOME is left alone) in one of four Secret Service situations:
#   unlocked  gnome-keyring-daemon, login keyring created and unlocked
#   locked    the login keyring exists (with one item) but is locked
#   none      a bus with no service directories: org.freedesktop.secrets cannot be activated
#   hung      a helper owns org.freedesktop.secrets and never answers
# CMD sees KEYRING_SITUATION=MODE and KEYRING_PASSWORD_FILE (the throwaway password of the
# login keyring, for tests that unlock it). Exit code is CMD's (128+N on signal N).
# On exit every process started here (bus, keyring daemon, helper, CMD leftovers) is killed:
# they are found by their XDG_RUNTIME_DIR, which lies under this run's private temp dir.
set -euo pipefail
self=$(readlink -f "$0")
repo=$(cd "$(dirname "$self")/.." && pwd)

# Returns once NAME has an owner on the session bus; fails after 30 s (a hang guard only).
wait_for_owner() {
  local deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    if gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
        --method org.freedesktop.DBus.NameHasOwner "$1" 2>/dev/null | grep -q true; then
      return 0
    fi
    sleep 0.05
  done
  echo "keyring-session: $1 got no owner within 30 s" >&2
  return 1
}

# --- inside the private bus (re-invoked by dbus-run-session) -------------------------------
case "${1:-}" in
  __inner)
    mode=$2; shift 3  # __inner MODE --
    case "$mode" in
      unlocked)
        gnome-keyring-daemon --unlock --components=secrets <"$KEYRING_PASSWORD_FILE" >/dev/null
        wait_for_owner org.freedesktop.secrets ;;
      locked)
        gnome-keyring-daemon --start --components=secrets >/dev/null 2>&1
        wait_for_owner org.freedesktop.secrets ;;
      none) ;;
      hung)
        "${STACK_PYTHON:-$repo/.venv/bin/python}" "$repo/tests/stack/hung_secret_service.py" &
        wait_for_owner org.freedesktop.secrets ;;
    esac
    exec "$@" ;;
  __create)  # first session of "locked": create the login keyring and one item in it
    gnome-keyring-daemon --unlock --components=secrets <"$KEYRING_PASSWORD_FILE" >/dev/null
    wait_for_owner org.freedesktop.secrets
    # Python, not secret-tool: secret-tool would overwrite xdg:schema with its generic schema.
    "${STACK_PYTHON:-$repo/.venv/bin/python}" - <<'PY'
import secretstorage
conn = secretstorage.dbus_init()
secretstorage.get_default_collection(conn).create_item(
    "Jira tokens - locked-test",
    {"xdg:schema": "io.github.jira-auth-agent.Tokens", "connection": "locked-test"},
    b'{"access_token":"locked-test-not-a-token"}', content_type="application/json")
PY
    exit 0 ;;
esac

# --- outside ---------------------------------------------------------------------------------
usage() { echo "usage: $0 unlocked|locked|none|hung -- CMD ARGS..." >&2; exit 64; }
[ $# -ge 3 ] && [ "$2" = "--" ] || usage
mode=$1; shift 2
case "$mode" in unlocked|locked|none|hung) ;; *) usage ;; esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/keyring-session.XXXXXX")
mkdir -m 700 "$tmp/run" "$tmp/data"
(umask 077; head -c 18 /dev/urandom | base64 >"$tmp/password")

# PIDs of every process whose XDG_RUNTIME_DIR lies in $tmp (none of this script's own
# helpers: the variable is never exported here, only passed to dbus-run-session via env).
our_pids() {
  local f pid kv
  for f in /proc/[0-9]*/environ; do
    pid=${f#/proc/}; pid=${pid%/environ}
    while IFS= read -r -d '' kv; do
      [[ $kv == "XDG_RUNTIME_DIR=$tmp/"* ]] && { echo "$pid"; break; }
    done 2>/dev/null <"$f" || true
  done
  return 0
}
# Ends them: TERM, 2 s to go, then KILL and until they are gone (10 s); fails if some are not.
kill_ours() {
  local pids i deadline
  pids=$(our_pids); [ -z "$pids" ] && return 0
  kill -TERM $pids 2>/dev/null || true
  for ((i = 0; i < 40; i++)); do
    sleep 0.05; pids=$(our_pids); [ -z "$pids" ] && return 0
  done
  kill -KILL $pids 2>/dev/null || true
  deadline=$((SECONDS + 10))
  while ((SECONDS < deadline)); do
    pids=$(our_pids); [ -z "$pids" ] && return 0
    sleep 0.05
  done
  echo "keyring-session: processes still running 10 s after SIGKILL:" $pids >&2
  return 1
}
cleanup() {
  local rc=$? left=0
  trap - EXIT INT TERM HUP
  kill_ours || left=1
  rm -rf "$tmp"
  if [ "$left" = 1 ] && [ "$rc" = 0 ]; then exit 70; fi
}
trap cleanup EXIT
trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 129' HUP

session_env=(XDG_RUNTIME_DIR="$tmp/run" XDG_DATA_HOME="$tmp/data"
             KEYRING_PASSWORD_FILE="$tmp/password" KEYRING_SITUATION="$mode")
# dbus-daemon's own chatter (fd limit, service activation) goes to a log, not CMD's stderr,
# unless KEYRING_SESSION_VERBOSE=1.
bus_opts=()
if [ "${KEYRING_SESSION_VERBOSE:-0}" != 1 ]; then
  printf '#!/bin/sh\nexec dbus-daemon "$@" 2>>"%s"\n' "$tmp/dbus-daemon.log" >"$tmp/dbus-daemon"
  chmod +x "$tmp/dbus-daemon"
  bus_opts=(--dbus-daemon="$tmp/dbus-daemon")
fi

case "$mode" in
  locked)
    mkdir -m 700 "$tmp/run-setup"
    env "${session_env[@]}" XDG_RUNTIME_DIR="$tmp/run-setup" \
      dbus-run-session "${bus_opts[@]}" -- "$self" __create </dev/null
    kill_ours || exit 70  # the setup daemon must be gone before the second session starts
    [ -s "$tmp/data/keyrings/login.keyring" ] || { echo "keyring-session: no login keyring" >&2; exit 70; }
    ;;
  none)
    cat >"$tmp/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=$tmp/run</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
  <!-- no <servicedir> and no <standard_session_servicedirs/>: nothing can be activated -->
</busconfig>
EOF
    bus_opts+=(--config-file="$tmp/bus.conf") ;;
esac

# In the background so that signals reach the traps above; stdin passed on explicitly.
env "${session_env[@]}" dbus-run-session "${bus_opts[@]}" -- "$self" __inner "$mode" -- "$@" <&0 &
child=$!
rc=0; wait "$child" || rc=$?
exit "$rc"
