#!/usr/bin/env bash
# Regenerates scripts/link-order.txt, the function order the release link uses
# (Package.swift: lld --symbol-ordering-file).
#
# Why: the daemon's resident memory is mostly code pages of its own binary, and the kernel
# maps file pages 64 KiB around every fault ("fault-around"). Start-up and the request paths
# execute about 1.4 MB of functions scattered over 23 MB of text, so about 12 MB ended up
# resident. Placing the functions that run together next to each other makes the pages the
# agent touches the pages it uses. The list comes from a real run, not from guesses:
# callgrind records every function the release binary executes while it starts, reads the
# keyring, answers the token API and `status`, forwards proxy requests and shuts down, and
# while the full CLI prints `status`.
#
# A stale list only costs memory (symbols that no longer exist are skipped by the linker);
# `make bench` prints the idle RSS, so drift shows there. Run this after large changes:
#   scripts/profile-link-order.sh        # needs valgrind (apt-get install valgrind)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
if [ -z "${KEYRING_SITUATION:-}" ]; then
  command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 69; }
  scripts/build-release.sh
  exec scripts/keyring-session.sh unlocked -- "$0" "$@"
fi
bin=$root/.build-release/release/jira-auth-agent
full=$root/.build-release/release/jira-auth-agent-full
out=$root/scripts/link-order.txt

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
source bench/fixture.sh
up_port=$(free_port); proxy_port=$(free_port)

# An upstream with a Jira-like document whose self link the proxy rewrites.
mkdir -p "$tmp/www/rest/api/2/issue"
printf '{"id":"10001","key":"P-1","self":"http://127.0.0.1:%s/rest/api/2/issue/10001","fields":{"summary":"profile"}}' \
  "$up_port" > "$tmp/www/rest/api/2/issue/P-1"
python3 -m http.server "$up_port" --bind 127.0.0.1 --directory "$tmp/www" >/dev/null 2>&1 & pids+=("$!")

fixture_connection profile "http://127.0.0.1:$up_port" "$tmp"

# valgrind cannot read the DWARF of the lld-linked binary; the symbol table is all it needs.
objcopy --strip-debug "$full" "$tmp/jira-auth-agent-full"
cg() { exec valgrind --tool=callgrind --demangle=no --dump-instr=no --callgrind-out-file="$tmp/cg.$1" "${@:2}"; }
(cg serve "$tmp/jira-auth-agent-full" serve --proxy-port "$proxy_port" --log-level error) 2>"$tmp/serve.log" & agent=$!; pids+=("$agent")
for _ in $(seq 600); do [ -S "$tmp/run/agent.sock" ] && break; sleep 0.05; done
[ -S "$tmp/run/agent.sock" ] || { cat "$tmp/serve.log" >&2; echo "the agent did not start" >&2; exit 1; }
for _ in $(seq 10); do
  "$bin" token profile >/dev/null
  curl -sf "http://127.0.0.1:$proxy_port/jira/profile/rest/api/2/issue/P-1" >/dev/null
  curl -sf --unix-socket "$tmp/run/agent.sock" http://localhost/v1/status >/dev/null
  curl -sf --unix-socket "$tmp/run/agent.sock" -X POST -d '{"min_valid":60}' http://localhost/v1/connections/default/token >/dev/null
done
(cg status "$tmp/jira-auth-agent-full" status) >/dev/null
kill -TERM "$agent"; wait "$agent" || true
grep -h "Collected" "$tmp/serve.log" >&2 || true

# Function names (mangled) the binary executed, sorted (which keeps each module's together
# and makes the file the same from run to run, so diffs show real changes); callgrind's
# recursion suffixes ('2) and unnamed addresses dropped.
python3 - "$tmp"/cg.serve "$tmp"/cg.status > "$out.new" <<'PY'
import re, sys
seen, order = set(), []
for path in sys.argv[1:]:
    names, objects, current = {}, {}, None
    for line in open(path, errors="replace"):
        m = re.match(r"(c?ob)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if m:
            if m.group(3): objects[m.group(2)] = m.group(3)
            if m.group(1) == "ob": current = objects.get(m.group(2), "")
            continue
        m = re.match(r"(c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if not m: continue
        if m.group(3): names[m.group(2)] = m.group(3)
        if m.group(1) == "fn" and current.endswith("/jira-auth-agent-full"):
            name = re.sub(r"'\d+$", "", names.get(m.group(2), ""))
            if name and not name.startswith("0x") and name not in seen:
                seen.add(name); order.append(name)
print("\n".join(sorted(order)))
PY
mv "$out.new" "$out"
[ -z "${KEEP_PROFILE:-}" ] || cp "$tmp"/cg.* "$KEEP_PROFILE"/
echo "wrote $(wc -l < "$out") functions to scripts/link-order.txt; relinking the release binaries" >&2
rm -f "$full" "$bin" "$root/.build-release/release/proxy-bench"
