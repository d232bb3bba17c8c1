#!/usr/bin/env bash
# The release build every consumer uses (`make release`/`make install`, `make bench`,
# scripts/profile-link-order.sh): static Swift standard library, and every Swift function
# in a section of its own, so the release link can place the functions that run together
# next to each other (scripts/link-order.txt; Package.swift says how it is linked).
#   scripts/build-release.sh [--product NAME] [other swift build options]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
exec swift build -c release --scratch-path .build-release --static-swift-stdlib \
  -Xswiftc -Xfrontend -Xswiftc -function-sections "$@"
