#!/usr/bin/env bash
# The whole test suite (README: `make test`; CI: .ci/run). Builds once, then:
#  1. the keyring suite under a locked, an absent and a hung Secret Service;
#  2. inside one private session with an unlocked gnome-keyring and the stack running
#     (authorization server, API gateway, Jira stand-in, headless Chromium as $BROWSER):
#     the stack's smoke tests, then every Swift test;
#  3. in a session of their own, the tests that lock the keyring mid-run (they would
#     disturb the keyring suites of pass 2);
#  4. alone, the proxy's memory tests (they measure the whole test process's peak RSS).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
swift build --build-tests 2>&1 | grep -v 'prohibited flag' || true
swift build --build-tests >/dev/null 2>&1   # fails the script if the build failed
for mode in locked none hung; do
  echo "== keyring suite with a $mode Secret Service"
  scripts/keyring-session.sh "$mode" -- swift test --skip-build --filter KeyringTests 2>&1 | tail -n 3
  test "${PIPESTATUS[0]}" -eq 0
done
echo "== the full suite against the real stack"
scripts/with-stack.sh -- bash -c '.venv/bin/python -m pytest -q tests/stack && swift test --skip-build'
echo "== the tests that lock the keyring, alone"
scripts/with-stack.sh -- env JAA_EXCLUSIVE_KEYRING=1 swift test --skip-build --filter KeyringLockEndToEnd
echo "== the proxy's memory tests, alone"
JAA_MEMORY_ALONE=1 swift test --skip-build --filter ProxyStreamingTests
