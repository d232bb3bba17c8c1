import Agent
import ArgumentParser
import Dispatch
import FoundationEssentials
import Glibc
import Synchronization
import Keyring
import Logging
import ServiceLifecycle
import UnixSignals

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the agent: token API on the Unix socket, proxy on 127.0.0.1, proactive refresh.",
        discussion: "Normally started by systemd: systemctl --user enable --now jira-auth-agent. SIGHUP reloads the connections; SIGTERM stops gracefully.")

    @Option(name: .customLong("proxy-port"), help: "TCP port of the proxy on 127.0.0.1 (0: any free port).") var proxyPort: Int = 7744
    @Flag(name: .customLong("no-proxy"), help: "Do not listen on TCP; the proxy stays available on the socket.") var noProxy = false
    @Flag(name: .customLong("memory-store"), help: "Keep tokens in memory only (lost at exit). For hosts without a Secret Service.") var memoryStore = false
    @Flag(name: .customLong("no-wait-for-authorization"), help: "Proxy requests without a token get a 401 with login guidance instead of waiting for the browser sign-in.") var noWait = false
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error.") var logLevel: String = "info"
    @OptionGroup var agent: AgentOptions

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .trace
            return handler
        }
        var logger = Logger(label: "jira-auth-agent")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info

        // One agent per user: the lock lives in the standard runtime directory even when
        // --socket puts the socket elsewhere (else a second agent could run beside it).
        let standard = try? AgentPaths.standard()
        let socketDirectory = agent.socket.map { AgentPaths(runtimeDirectory: URL(fileURLWithPath: $0).deletingLastPathComponent().path) }
        guard let lockPaths = standard ?? socketDirectory else { _ = try AgentPaths.standard(); return }
        try lockPaths.prepareDirectory()
        if let socketDirectory, socketDirectory.runtimeDirectory != lockPaths.runtimeDirectory { try socketDirectory.prepareDirectory() }
        let lock = try InstanceLock(path: lockPaths.lock)
        let socketPath = try agent.socketPath()

        let store: any TokenStore
        if memoryStore {
            logger.warning("memory-only token store: tokens are lost when the agent stops")
            store = MemoryStore()
        } else {
            store = SecretServiceStore()
        }
        let catalog = ConnectionCatalog.load()
        for problem in catalog.problems { logger.warning("configuration problem", metadata: ["problem": "\(problem)"]) }
        // Client secrets set with `connections set-secret` live in the same Secret Service;
        // a memory-only agent has none (client_secret_file still works).
        let secrets = memoryStore ? ClientSecretSource() : ClientSecretSource(store: SecretServiceClientSecretStore())
        let registry = SessionRegistry(catalog: catalog, dependencies: .init(
            store: store, secrets: secrets, notifier: .desktop, logger: logger,
            revocations: memoryStore ? RevocationRecords() : .standard()))

        // HTTPS_PROXY/NO_PROXY: a value that is not a proxy URL stops the start with a clear
        // error rather than silently connecting directly.
        let forwardProxy = try ForwardProxy.fromProcessEnvironment.get()
        if let forwardProxy { logger.info("https connections go through a proxy", metadata: ["proxy": "\(forwardProxy)"]) }
        let tcpPort: Int? = noProxy ? nil : proxyPort
        let proxyURL = ProxyURLBox()
        let api = TokenAPI(registry: registry, info: {
            AgentInfo(version: JiraAuthAgent.version, pid: getpid(), keyring: store.kind, proxyURL: proxyURL.value, socket: socketPath)
        }, logger: logger)
        let server = AgentServer(
            configuration: .init(tcpPort: tcpPort, unixSocketPath: socketPath, proxy: ProxyConfiguration(interactive: !noWait, forwardProxy: forwardProxy)),
            catalog: { registry.catalog }, tokens: registry, api: api, logger: logger)
        let bound = try await server.start()
        if let port = bound.tcpPort { proxyURL.value = "http://127.0.0.1:\(port)" }
        await registry.start()

        let reloader = ReloadOnHangup(registry: registry, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: (registry.scheduler.map { [ServiceGroupConfiguration.ServiceConfiguration(service: $0)] } ?? [])
                // Shut down in reverse: the server first (no new callers), then the sessions
                // (their owed keyring writes), then the timer.
                + [.init(service: SessionsService(registry: registry)), .init(service: reloader), .init(service: server)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        logger.info("agent ready", metadata: ["socket": "\(socketPath)", "proxy": "\(proxyURL.value ?? "-")", "connections": "\(catalog.connections.count)"])
        try await group.run()
        withExtendedLifetime(lock) {}
    }
}

/// The proxy URL once the listener is bound (the status handler reads it).
final class ProxyURLBox: @unchecked Sendable {
    private let _value = Mutex<String?>(nil)
    var value: String? {
        get { _value.withLock { $0 } }
        set { _value.withLock { $0 = newValue } }
    }
}

/// Stops the sessions' timers on graceful shutdown.
struct SessionsService: Service {
    let registry: SessionRegistry
    func run() async throws {
        try? await gracefulShutdown()
        await registry.shutdown()
    }
}

/// SIGHUP: re-read the catalogs; unchanged connections keep their sessions and tokens.
struct ReloadOnHangup: Service {
    let registry: SessionRegistry
    let logger: Logger

    func run() async throws {
        let hangups = AsyncStream<Void> { continuation in
            signal(SIGHUP, SIG_IGN)
            let source = SignalSource(DispatchSource.makeSignalSource(signal: SIGHUP))
            source.source.setEventHandler { continuation.yield() }
            source.source.resume()
            continuation.onTermination = { _ in source.source.cancel() }
        }
        await withGracefulShutdownHandler {
            for await _ in hangups.cancelOnGracefulShutdown() {
                let catalog = ConnectionCatalog.load()
                for problem in catalog.problems { logger.warning("configuration problem", metadata: ["problem": "\(problem)"]) }
                await registry.reload(catalog)
                logger.info("configuration reloaded", metadata: ["connections": "\(catalog.connections.count)"])
            }
        } onGracefulShutdown: {}
    }
}

/// A dispatch signal source is thread-safe; Dispatch does not say so to Swift 6.
private final class SignalSource: @unchecked Sendable {
    let source: any DispatchSourceSignal
    init(_ source: any DispatchSourceSignal) { self.source = source }
}
