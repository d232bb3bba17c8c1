// swift-tools-version:6.0
// jira-auth-agent: a per-user OAuth 2.0 authorization agent for Jira Data Center.
// Module layout and the reasons for each dependency: README.md, "Dependencies".
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    // Extension members only from modules a file imports itself: a Foundation-only API
    // used through some other module's import would pull all of Foundation into the binary.
    .enableUpcomingFeature("MemberImportVisibility"),
]

// Release executables: no dynamic symbol table for the statically linked Swift code
// (static-stdlib-args.lnk passes -export-dynamic, which exported ~26k symbols, 1.5 MB of
// .dynsym/.dynstr loaded at start) and relative relocations packed (DT_RELR, glibc ≥ 2.36:
// 2.5 MB of .rela.dyn read at every start becomes 20 KB); lld is the toolchain's linker
// that packs them. Idle RSS of `serve`: 34 → 28 MiB (bench/token-api.sh).
let releaseLinking: [LinkerSetting] = [
    .unsafeFlags(["-use-ld=lld", "-Xlinker", "--no-export-dynamic", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
                  // Functions that run together, placed together (scripts/profile-link-order.sh
                  // says why and regenerates the list); names that no longer exist are skipped.
                  "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/scripts/link-order.txt",
                  "-Xlinker", "--no-warn-symbol-ordering",
                  "-Xlinker", "-T", "-Xlinker", "\(Context.packageDirectory)/scripts/link-order.ld"],
                 .when(platforms: [.linux], configuration: .release)),
]

let package = Package(
    name: "jira-auth-agent",
    platforms: [.macOS(.v14)],
    products: [
        // The installed command: a small front that answers `token` itself and execs the
        // full CLI for everything else (Sources/Front/main.swift says why).
        .executable(name: "jira-auth-agent", targets: ["jira-auth-agent"]),
        .executable(name: "jira-auth-agent-full", targets: ["jira-auth-agent-full"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibSecret",
            pkgConfig: "libsecret-1",
            providers: [.apt(["libsecret-1-dev"])]
        ),
        .systemLibrary(
            name: "CGio",
            pkgConfig: "gio-2.0",
            providers: [.apt(["libglib2.0-dev"])]
        ),
        .target(name: "DesktopNotifications", dependencies: ["CGio"], swiftSettings: strict),
        .target(name: "CAgentSystem"),
        .target(name: "LocalSocket", swiftSettings: strict),
        .target(
            name: "OAuth",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .target(
            name: "Keyring",
            dependencies: ["OAuth", "CLibSecret"],
            swiftSettings: strict
        ),
        .target(
            name: "Agent",
            dependencies: [
                "OAuth", "Keyring", "CAgentSystem", "LocalSocket", "DesktopNotifications",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(name: "jira-auth-agent", dependencies: ["LocalSocket"], path: "Sources/Front", swiftSettings: strict,
                          linkerSettings: releaseLinking),
        .executableTarget(
            name: "jira-auth-agent-full",
            dependencies: [
                "Agent", "Keyring",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/jira-auth-agent",
            swiftSettings: strict,
            linkerSettings: releaseLinking
        ),
        // The proxy benchmark harness (bench/proxy.sh): the real AgentServer with a fixed token.
        .executableTarget(
            name: "proxy-bench",
            dependencies: ["Agent", "OAuth", .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "Logging", package: "swift-log")],
            path: "bench/proxy-bench",
            swiftSettings: strict,
            linkerSettings: releaseLinking
        ),
        .target(
            name: "TestSupport",
            dependencies: ["OAuth", "Keyring", "Agent", .product(name: "Crypto", package: "swift-crypto")],
            path: "Tests/TestSupport",
            swiftSettings: strict
        ),
        .testTarget(name: "OAuthTests", dependencies: ["OAuth", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "KeyringTests", dependencies: ["Keyring", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "AgentTests", dependencies: ["Agent", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "EndToEndTests", dependencies: ["TestSupport"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
