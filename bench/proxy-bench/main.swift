// proxy-bench UPSTREAM_URL [PORT]: runs the real AgentServer proxy on 127.0.0.1:PORT with
// one connection `bench` → UPSTREAM_URL and a fixed token, until SIGTERM/SIGINT.
// CA_BUNDLE=FILE: the connection's `ca_bundle`, for an https upstream with a test certificate.
import Agent
import Dispatch
import FoundationEssentials
import Glibc
import Logging
import NIOCore
import OAuth

struct FixedToken: AccessTokenProvider {
    func cachedAccessToken(connection: String, minValid: TimeInterval) -> String? { "bench-token" }
    func accessToken(connection: String, minValid: TimeInterval, interactive: Bool) async throws -> TokenSet {
        TokenSet(accessToken: "bench-token")
    }
    func refreshAfterRejection(connection: String, rejected: String) async throws -> TokenSet {
        TokenSet(accessToken: "bench-token")
    }
}

// PROXY_THREADS=N: event loop threads (default: one per core), to compare side by side.
if let threads = ProcessInfo.processInfo.environment["PROXY_THREADS"].flatMap(Int.init), threads > 0 {
    NIOSingletons.groupLoopCountSuggestion = threads
}

let arguments = CommandLine.arguments
guard arguments.count >= 2, let upstream = URL(string: arguments[1]) else {
    let usage = Array("usage: proxy-bench UPSTREAM_URL [PORT]\n".utf8)
    _ = write(2, usage, usage.count)
    exit(64)
}
let port = arguments.count > 2 ? Int(arguments[2]) ?? 0 : 0
let connection = Connection(id: "bench", jiraURL: upstream, clientID: "bench", isDefault: true,
                            caBundle: ProcessInfo.processInfo.environment["CA_BUNDLE"])
let catalog = ConnectionCatalog(connections: [connection])
var logger = Logger(label: "proxy-bench")
logger.logLevel = .warning
let server = AgentServer(configuration: .init(tcpPort: port, proxy: ProxyConfiguration()),
                         catalog: { catalog }, tokens: FixedToken(),
                         api: nil, logger: logger)
let bound = try await server.start()
let listening = Array("listening \(bound.tcpPort ?? 0)\n".utf8)
_ = write(1, listening, listening.count)
signal(SIGTERM, SIG_IGN)
signal(SIGINT, SIG_IGN)
let (stop, continuation) = AsyncStream<Void>.makeStream()
let sources = [SIGTERM, SIGINT].map { sig in
    let source = DispatchSource.makeSignalSource(signal: sig)
    source.setEventHandler { @Sendable in continuation.yield() }
    source.resume()
    return source
}
for await _ in stop { break }
await server.shutdown()
for source in sources { source.cancel() }
