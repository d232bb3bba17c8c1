#!/usr/bin/env bash
# Every benchmark of the project (README: `make bench`), each side by side with its
# baseline, printed as tables:
#  - token API over the Unix socket vs a C server on the same socket (the floor);
#    `jira-auth-agent token` as a whole process vs `secret-tool lookup`; idle RSS;
#  - the proxy vs direct and vs nginx doing the same header injection (wrk -t2 -c32).
# Release builds with a static Swift standard library, as `make release` installs.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
echo "building the release binary…" >&2
scripts/build-release.sh 2>&1 \
  | grep -Ev '^\[|prohibited flag|^Building|^Compiling|^Write|^Linking' >&2 || true
test -x .build-release/release/jira-auth-agent && test -x .build-release/release/jira-auth-agent-full
echo
echo "== token API (issue 4)"
bench/token-api.sh
echo
echo "== proxy (issue 5)"
bench/proxy.sh
