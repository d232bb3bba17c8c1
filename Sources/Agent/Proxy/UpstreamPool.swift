import NIOCore
import NIOPosix
import NIOSSL

/// Idle keep-alive connections to one upstream, for one event loop: a request takes the
/// most recently used one (LIFO keeps few connections warm) or opens a new one on the same
/// loop, so a request never hops threads. Confined to its event loop.
final class UpstreamPool {
    private let eventLoop: any EventLoop
    private let target: UpstreamTarget
    private let tls: NIOSSLContext?
    private let configuration: ProxyConfiguration
    private var idle: [UpstreamConnection] = []
    private var sweeper: Scheduled<Void>?

    init(eventLoop: any EventLoop, target: UpstreamTarget, tls: NIOSSLContext?, configuration: ProxyConfiguration) {
        self.eventLoop = eventLoop
        self.target = target
        self.tls = tls
        self.configuration = configuration
    }

    /// A pooled connection that is still open, if any.
    func takeIdle() -> UpstreamConnection? {
        while let connection = idle.popLast() {
            if connection.isUsable { return connection }
        }
        return nil
    }

    /// Returns a connection whose last exchange ended cleanly.
    func release(_ connection: UpstreamConnection) {
        connection.handler.delegate = nil
        connection.handler.resumeReads()
        guard connection.isUsable, idle.count < configuration.maxIdleUpstreamConnections else {
            connection.channel.close(promise: nil)
            return
        }
        connection.idleSince = .coarseNow()
        idle.append(connection)
        scheduleSweep()
    }

    /// Opens a new connection: TCP, TLS with hostname verification when https (SECURITY
    /// S13), and the `UpstreamHandler` that reads responses (`UpstreamResponseParser`).
    func connect() -> EventLoopFuture<UpstreamConnection> {
        let tls = self.tls
        let host = target.host
        let port = target.port
        let sni: String? = host.isIPAddressLiteral ? nil : host
        let maxHeadSize = max(64 * 1024, configuration.maxHeaderSize)
        // Requests are written as bytes (HTTPWire): their fields come from the agent's
        // parser of the client's request (ClientRequestParser), the configuration (host),
        // and the bearer token, which `proceed` checks once per token.
        @Sendable func addUpstreamHandlers(_ channel: any Channel) throws {
            if let tls {
                try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: sni))
            }
            try channel.pipeline.syncOperations.addHandler(UpstreamHandler(maxHeadSize: maxHeadSize))
        }
        let proxy = tls == nil || !ConnectTunnelHandler.isSafeHost(host) ? nil : configuration.forwardProxy.flatMap { $0.applies(to: host) ? $0 : nil }
        let tunnel = eventLoop.makePromise(of: Void.self)
        let connected = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.upstreamConnectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let proxy {
                        try channel.pipeline.syncOperations.addHandler(ConnectTunnelHandler(host: host, port: port, proxy: proxy, promise: tunnel))
                    } else {
                        try addUpstreamHandlers(channel)
                    }
                }
            }
            .connect(host: proxy?.host ?? host, port: proxy?.port ?? port)
        guard proxy != nil else {
            tunnel.succeed()
            return connected.flatMapThrowing { channel in
                let handler = try channel.pipeline.syncOperations.handler(type: UpstreamHandler.self)
                return UpstreamConnection(channel: channel, handler: handler)
            }
        }
        connected.whenFailure { tunnel.fail($0) }
        let connectTimeout = configuration.upstreamConnectTimeout
        connected.whenSuccess { channel in
            let timeout = channel.eventLoop.scheduleTask(in: connectTimeout) {
                tunnel.fail(AgentError(.transient, "The HTTPS proxy did not open a tunnel to \(host):\(port) in time."))
            }
            tunnel.futureResult.whenComplete { result in
                timeout.cancel()
                if case .failure = result { channel.close(promise: nil) }
            }
        }
        // The tunnel completes only after the connection did.
        return tunnel.futureResult.flatMap { connected }.flatMapThrowing { channel in
            do {
                try addUpstreamHandlers(channel)
                let handler = try channel.pipeline.syncOperations.handler(type: UpstreamHandler.self)
                return UpstreamConnection(channel: channel, handler: handler)
            } catch {
                channel.close(promise: nil)
                throw error
            }
        }
    }

    /// Closes every idle connection (the connection's configuration changed, or shutdown).
    func closeAll() {
        for connection in idle { connection.channel.close(promise: nil) }
        idle.removeAll()
        sweeper?.cancel()
        sweeper = nil
    }

    private func scheduleSweep() {
        guard sweeper == nil else { return }
        sweeper = eventLoop.assumeIsolated().scheduleTask(in: configuration.upstreamIdleTimeout) { [self] in
            sweeper = nil
            let cutoff = NIODeadline.now() - configuration.upstreamIdleTimeout
            idle.removeAll { connection in
                guard connection.idleSince <= cutoff || !connection.isUsable else { return false }
                connection.channel.close(promise: nil)
                return true
            }
            if !idle.isEmpty { scheduleSweep() }
        }
    }
}

extension String {
    /// An IPv4 or IPv6 literal (SNI must not carry one, RFC 6066 §3).
    var isIPAddressLiteral: Bool {
        if contains(":") { return true }
        let parts = split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }
}
