#!/usr/bin/env bash
# The release build every consumer uses (`make release`/`make install`, `make bench`,
# scripts/profile-link-order.sh): static Swift standard library, every Swift function
# in a section of its own, so the release link can place the functions that run together
# next to each other (scripts/link-order.txt; Package.swift says how it is linked).
#   scripts/build-release.sh [--product NAME] [other swift build options]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
# Foundation's full module (CoreFoundation, ICU and its 33 MB of data) is not linked: the
# code imports FoundationEssentials only, but TOMLKit's `import struct Foundation.Data` puts
# -lFoundation into the autolink entries, and lld then resolves a shared generic
# specialization from libFoundation.a, dragging CoreFoundation in. A use of a
# Foundation-only API makes this link fail instead of growing the binary.
no_autolink=()
for lib in Foundation CoreFoundation FoundationInternationalization _FoundationICU; do
  no_autolink+=(-Xswiftc -Xfrontend -Xswiftc -disable-autolink-library -Xswiftc -Xfrontend -Xswiftc "$lib")
done
exec swift build -c release --scratch-path .build-release --static-swift-stdlib \
  -Xswiftc -Xfrontend -Xswiftc -function-sections "${no_autolink[@]}" "$@"
