#!/usr/bin/env bash
# with-stack.sh -- CMD ARGS...
# Runs CMD with the whole real test stack: an unlocked Secret Service (keyring-session.sh), the
# authorization server, the API gateway (plain, TLS, mutual TLS), the forward proxy and the Jira
# stand-in (stack.sh, with a fresh state dir unless STACK_STATE_DIR is set), stack.env exported. Everything is stopped afterwards, also on error
# or signal. Ports: AS_PORT / GATEWAY_PORT / JIRA_PORT / GATEWAY_HTTPS_PORT / GATEWAY_MTLS_PORT /
# FORWARD_PROXY_PORT if set, else free ones picked from the kernel (so that parallel runs do not
# collide). Exit code is CMD's.
set -euo pipefail
here=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)

if [ "${1:-}" != __inner ]; then
  [ "${1:-}" = -- ] && shift
  [ $# -ge 1 ] || { echo "usage: $0 -- CMD ARGS..." >&2; exit 64; }
  exec "$here/keyring-session.sh" unlocked -- "$here/with-stack.sh" __inner "$@"
fi
shift  # __inner

python=${STACK_PYTHON:-$here/../.venv/bin/python}
free_port() { "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export AS_PORT=${AS_PORT:-$(free_port)} GATEWAY_PORT=${GATEWAY_PORT:-$(free_port)} JIRA_PORT=${JIRA_PORT:-$(free_port)}
export GATEWAY_HTTPS_PORT=${GATEWAY_HTTPS_PORT:-$(free_port)} GATEWAY_MTLS_PORT=${GATEWAY_MTLS_PORT:-$(free_port)}
export FORWARD_PROXY_PORT=${FORWARD_PROXY_PORT:-$(free_port)}
own_state=
if [ -z "${STACK_STATE_DIR:-}" ]; then
  STACK_STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/stack-state.XXXXXX"); own_state=1
fi
export STACK_STATE_DIR

finish() {
  trap - EXIT INT TERM HUP
  "$here/stack.sh" stop >/dev/null || true
  [ -n "$own_state" ] && rm -rf "$STACK_STATE_DIR"
  return 0
}
trap finish EXIT
trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 129' HUP

"$here/stack.sh" start >&2
set -a; . "$STACK_STATE_DIR/stack.env"; set +a
rc=0; "$@" || rc=$?
exit "$rc"
