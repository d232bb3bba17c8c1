import FoundationEssentials
public import Logging
public import NIOCore
import NIOConcurrencyHelpers
import NIOHTTP1
public import NIOPosix
public import ServiceLifecycle

/// The agent's local listeners (DESIGN §6) on one shared event loop group: the proxy on
/// `127.0.0.1:<port>`, and the proxy plus the token API on the Unix socket. Only the user's
/// own processes get in (SECURITY S8): the peer's UID is checked at accept time,
/// `SO_PEERCRED` on the socket, `/proc/net/tcp{,6}` on TCP, and other users' connections are
/// closed at once.
///
/// Run it in the daemon's `ServiceGroup`; on graceful shutdown it stops accepting, lets the
/// requests in flight finish (bounded by `shutdownGracePeriod`), then closes.
public final class AgentServer: Service, Sendable {
    public struct Configuration: Sendable {
        /// TCP port of the proxy on 127.0.0.1; 0 picks a free one (tests); `nil`: no TCP.
        public var tcpPort: Int?
        /// The Unix socket, e.g. `$XDG_RUNTIME_DIR/jira-auth-agent/agent.sock`; `nil`: none.
        public var unixSocketPath: String?
        /// Largest token-API request body.
        public var apiBodyLimit: Int
        public var proxy: ProxyConfiguration
        /// How long in-flight requests may take to finish on shutdown.
        public var shutdownGracePeriod: TimeAmount
        /// The only UID served; the agent's own by default.
        public var allowedUID: UInt32

        public init(tcpPort: Int? = 7744, unixSocketPath: String? = nil, apiBodyLimit: Int = 64 * 1024,
                    proxy: ProxyConfiguration = ProxyConfiguration(), shutdownGracePeriod: TimeAmount = .seconds(10),
                    allowedUID: UInt32? = nil) {
            self.tcpPort = tcpPort
            self.unixSocketPath = unixSocketPath
            self.apiBodyLimit = apiBodyLimit
            self.proxy = proxy
            self.shutdownGracePeriod = shutdownGracePeriod
            self.allowedUID = allowedUID ?? PeerCredentials.currentUID
        }
    }

    /// Where the listeners are bound, once `start()` returned.
    public struct BoundAddresses: Sendable {
        public var tcpPort: Int?
        public var unixSocketPath: String?
    }

    enum State {
        case initial
        case running(listeners: [any Channel], bound: BoundAddresses)
        case stopped
    }

    let configuration: Configuration
    let group: any EventLoopGroup
    let logger: Logger
    let api: (any LocalAPIResponder)?
    let proxy: JiraProxy
    let state = NIOLockedValueBox<State>(.initial)
    let clients = ClientChannels()

    /// - Parameters:
    ///   - catalog: returns the current catalog (it changes on SIGHUP); called per request.
    ///   - tokens: the sessions.
    ///   - api: the token API, served on the Unix socket under `/v1/`.
    ///   - group: one event loop group for every listener and upstream connection.
    public init(configuration: Configuration,
                catalog: @escaping @Sendable () -> ConnectionCatalog,
                tokens: any AccessTokenProvider,
                api: (any LocalAPIResponder)?,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "jira-auth-agent.server")) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        self.api = api
        self.proxy = JiraProxy(catalog: catalog, tokens: tokens, configuration: configuration.proxy, logger: logger)
    }

    /// Binds the listeners (idempotent) and returns where they are.
    @discardableResult
    public func start() async throws -> BoundAddresses {
        if case .running(_, let bound) = state.withLockedValue({ $0 }) { return bound }
        var listeners: [any Channel] = []
        var bound = BoundAddresses()
        do {
            if let port = configuration.tcpPort {
                let channel = try await bindTCP(port: port)
                listeners.append(channel)
                bound.tcpPort = channel.localAddress?.port
            }
            if let path = configuration.unixSocketPath {
                listeners.append(try await bindUnix(path: path, tcpPort: bound.tcpPort))
                bound.unixSocketPath = path
            }
        } catch {
            for l in listeners { try? await l.close() }
            throw error
        }
        let result = bound
        let accepted = state.withLockedValue { state -> Bool in
            guard case .initial = state else { return false }
            state = .running(listeners: listeners, bound: result)
            return true
        }
        if !accepted {
            for l in listeners { try? await l.close() }
            throw AgentError(.internalError, "the server was started twice or after it stopped")
        }
        logger.info("listening", metadata: ["tcp_port": "\(bound.tcpPort.map(String.init) ?? "-")",
                                            "socket": "\(bound.unixSocketPath ?? "-")"])
        return bound
    }

    /// The bound TCP port (after `start()`).
    public var tcpPort: Int? {
        if case .running(_, let bound) = state.withLockedValue({ $0 }) { return bound.tcpPort }
        return nil
    }

    /// `Service`: starts, serves until graceful shutdown or cancellation, then shuts down.
    public func run() async throws {
        try await start()
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Stops accepting, asks every client connection to finish its current response and
    /// close, waits up to `shutdownGracePeriod`, then closes what is left.
    public func shutdown() async {
        let listeners: [any Channel] = state.withLockedValue { state in
            guard case .running(let listeners, _) = state else { return [] }
            state = .stopped
            return listeners
        }
        for listener in listeners { try? await listener.close() }
        if let path = configuration.unixSocketPath, !listeners.isEmpty { unlink(path) }
        await clients.drain(grace: configuration.shutdownGracePeriod)
        proxy.closeIdleConnections()
        logger.info("stopped listening")
    }
}
