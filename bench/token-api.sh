#!/usr/bin/env bash
# Token API benchmark (issue 4, "Performance"), side by side with its baselines:
#  1. POST /v1/connections/ID/token over the Unix socket with the token cached, one
#     connection per request, against a C server answering the same bytes (the floor);
#  2. `jira-auth-agent token` as a whole process, against `secret-tool lookup` (hyperfine);
#  3. idle RSS of `serve`.
# Runs inside a private keyring session (scripts/keyring-session.sh) with a token set
# stored under our schema, so no authorization server is needed.
#
#   bench/token-api.sh                 # REQUESTS per thread default 5000
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
if [ -z "${KEYRING_SITUATION:-}" ]; then
  exec scripts/keyring-session.sh unlocked -- "$0" "$@"
fi
REQUESTS=${REQUESTS:-5000}
RUNS=${RUNS:-200}
bin=${JIRA_AUTH_AGENT_BIN:-$root/.build-release/release/jira-auth-agent}
# Run on its own (not through `make bench`), it builds what it measures.
if [ -z "${JIRA_AUTH_AGENT_BIN:-}" ] && { [ ! -x "$bin" ] || [ ! -x "${bin}-full" ]; }; then
  echo "building the release binaries…" >&2
  (cd "$root" && scripts/build-release.sh >&2)
fi
[ -x "$bin" ] || { echo "no release binary at $bin (run: make release)" >&2; exit 69; }

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
gcc -O2 -o "$tmp/uds_load" bench/c/uds_load.c -lpthread
gcc -O2 -o "$tmp/uds_floor" bench/c/uds_floor.c -lpthread

# A connection and a stored token set valid for a day (no refresh during the run).
source bench/fixture.sh
fixture_connection bench http://127.0.0.1:9 "$tmp"

# As installed (proxy on), on a free port so a running agent is not disturbed.
proxy_port=$(free_port)
"$bin" serve --proxy-port "$proxy_port" --log-level error 2>"$tmp/agent.log" &
agent=$!; pids+=("$agent")
for _ in $(seq 100); do [ -S "$tmp/run/agent.sock" ] && break; sleep 0.05; done
"$bin" token bench >/dev/null   # first read from the keyring; then from memory
sleep 3
idle_rss=$(awk '/VmRSS/ {print $2}' "/proc/$agent/status")

"$tmp/uds_floor" "$tmp/floor.sock" & pids+=("$!")
sleep 0.2
body='{"min_valid":30}'
seq1() { "$tmp/uds_load" "$1" /v1/connections/bench/token "$body" 1 "$REQUESTS"; }
par2() { "$tmp/uds_load" "$1" /v1/connections/bench/token "$body" 2 "$REQUESTS"; }
seq1 "$tmp/run/agent.sock" >/dev/null; seq1 "$tmp/floor.sock" >/dev/null   # warm-up
ours_seq=$(seq1 "$tmp/run/agent.sock"); floor_seq=$(seq1 "$tmp/floor.sock")
ours_par=$(par2 "$tmp/run/agent.sock"); floor_par=$(par2 "$tmp/floor.sock")
busy_rss=$(awk '/VmRSS/ {print $2}' "/proc/$agent/status")

field() { sed -E "s/.*$2=([0-9.]+).*/\1/" <<<"$1"; }
hf=$tmp/hyperfine.json
hyperfine -N --warmup 20 --runs "$RUNS" --export-json "$hf" \
  -n token "$bin token bench" -n secret-tool "secret-tool lookup connection bench" >/dev/null 2>&1
median() { python3 -c "import json,sys; r={x['command']:x for x in json.load(open('$hf'))['results']}; print('%.2f' % (r['$1']['median']*1000))"; }
t_token=$(median token); t_st=$(median secret-tool)

printf '\n%-44s %12s %12s %8s\n' "token API (cached token, Unix socket)" "agent" "C floor" "ratio"
printf '%-44s %12s %12s %8s\n' "p50 latency, 1 client (µs)" "$(field "$ours_seq" p50_us)" "$(field "$floor_seq" p50_us)" \
  "$(python3 -c "print('%.2f' % ($(field "$ours_seq" p50_us)/$(field "$floor_seq" p50_us)))")"
printf '%-44s %12s %12s %8s\n' "p99 latency, 1 client (µs)" "$(field "$ours_seq" p99_us)" "$(field "$floor_seq" p99_us)" \
  "$(python3 -c "print('%.2f' % ($(field "$ours_seq" p99_us)/$(field "$floor_seq" p99_us)))")"
printf '%-44s %12s %12s %8s\n' "tokens/s, 2 clients" "$(field "$ours_par" rps)" "$(field "$floor_par" rps)" \
  "$(python3 -c "print('%.2f' % ($(field "$ours_par" rps)/$(field "$floor_par" rps)))")"
printf '\n%-44s %12s %12s %8s\n' "whole process (hyperfine, $RUNS runs)" "token" "secret-tool" "ratio"
printf '%-44s %12s %12s %8s\n' "median (ms)" "$t_token" "$t_st" "$(python3 -c "print('%.2f' % ($t_token/$t_st))")"
printf '\n%-44s %12s\n' "serve RSS idle (MiB)" "$(python3 -c "print('%.1f' % ($idle_rss/1024))")"
printf '%-44s %12s\n' "serve RSS after the load (MiB)" "$(python3 -c "print('%.1f' % ($busy_rss/1024))")"
printf '\ntargets: p50 ≤ 100 µs, ≥ 10000 tokens/s, token process median ≤ 3 ms, idle RSS ≤ 20 MiB\n'
