// swift-tools-version:6.0
// The proxy benchmark harness (bench/proxy.sh): the real Agent module, built in release
// mode, serving with a fixed token. Sources/{CLibSecret,CAgentSystem,LocalSocket,OAuth,Keyring,Agent} are symlinks
// to the project's own modules; the dependencies mirror ../Package.swift (keep them in step).
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

// As ../Package.swift links the release executables (see `releaseLinking` there).
let releaseLinking: [LinkerSetting] = [
    .unsafeFlags(["-use-ld=lld", "-Xlinker", "--no-export-dynamic", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"],
                 .when(platforms: [.linux], configuration: .release)),
]

let package = Package(
    name: "proxy-bench",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
    ],
    targets: [
        .systemLibrary(name: "CLibSecret", pkgConfig: "libsecret-1"),
        .target(name: "CAgentSystem"),
        .target(name: "LocalSocket", swiftSettings: strict),
        .target(name: "OAuth", dependencies: [.product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),
        .target(name: "Keyring", dependencies: ["OAuth", "CLibSecret"], swiftSettings: strict),
        .target(
            name: "Agent",
            dependencies: [
                "OAuth", "Keyring", "CAgentSystem", "LocalSocket",
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
        .executableTarget(
            name: "proxy-bench",
            dependencies: ["Agent", "OAuth", .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict,
            linkerSettings: releaseLinking
        ),
    ],
    swiftLanguageModes: [.v6]
)
