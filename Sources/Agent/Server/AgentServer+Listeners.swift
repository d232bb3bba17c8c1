import FoundationEssentials
import Logging
import NIOCore
import NIOConcurrencyHelpers
import NIOHTTP1
import NIOPosix

/// Binding the two listeners and the accept-time peer check (SECURITY S8).
extension AgentServer {
    func bindTCP(port: Int) async throws -> any Channel {
        let allowed = configuration.allowedUID
        let logger = self.logger
        let portBox = NIOLockedValueBox<Int>(port)
        let channel = try await serverBootstrap()
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                // The client's row in /proc/net/tcp carries its uid; no row, no service.
                guard let uid = ProcNetTCP.ownerUID(of: channel), uid == allowed else {
                    logger.info("refused a TCP connection from another user")
                    return channel.eventLoop.makeFailedFuture(AgentError(.badRequest, "peer is not the agent's user"))
                }
                let listener = ListenerKind.tcp(port: portBox.withLockedValue { $0 })
                return configureChild(channel, listener: listener, peer: PeerCredentials(uid: uid), api: nil)
            }
            .bind(host: "127.0.0.1", port: port).get()
        if let bound = channel.localAddress?.port { portBox.withLockedValue { $0 = bound } }
        return channel
    }

    func bindUnix(path: String, tcpPort: Int?) async throws -> any Channel {
        try UnixSocketPath.prepare(path)
        let allowed = configuration.allowedUID
        let logger = self.logger
        let api = self.api
        // Token-API connections are one short request each: accept and serve them on the
        // same event loop, so no accepted connection needs a cross-thread wake-up (measured:
        // the eventfd hand-off and context switch were the largest share of the latency).
        let loop = group.next()
        let channel = try await serverBootstrap(childGroup: loop, on: loop)
            .childChannelInitializer { [self] channel in
                PeerCredentials.ofUnixSocket(channel).flatMap { [self] peer in
                    guard peer.uid == allowed else {
                        logger.info("refused a socket connection from another user", metadata: ["uid": "\(peer.uid)"])
                        return channel.eventLoop.makeFailedFuture(AgentError(.badRequest, "peer is not the agent's user"))
                    }
                    return configureChild(channel, listener: .unixSocket(tcpPort: tcpPort), peer: peer, api: api)
                }
            }
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: false).get()
        guard chmod(path, 0o600) == 0 else {
            try? await channel.close()
            throw AgentError(.internalError, "could not restrict the socket \(path) to mode 0600 (errno \(errno))")
        }
        return channel
    }

    private func serverBootstrap(childGroup: (any EventLoopGroup)? = nil, on acceptor: (any EventLoopGroup)? = nil) -> ServerBootstrap {
        ServerBootstrap(group: acceptor ?? group, childGroup: childGroup ?? group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 4)
    }

    private func configureChild(_ channel: any Channel, listener: ListenerKind, peer: PeerCredentials,
                                api: (any LocalAPIResponder)?) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            // One handler, no codecs: ProxyServerHandler reads requests with its own parser
            // (ClientRequestParser) and writes its responses as bytes (HTTPWire). Every
            // response field is a constant, a number, or comes from a parser that refuses
            // control characters (UpstreamResponseParser for the upstream's) — except the
            // rewritten `Location`, whose proxy base is checked by `rewriter(_:)`.
            try channel.pipeline.syncOperations.addHandler(ProxyServerHandler(
                proxy: proxy, listener: listener, peer: peer, api: api, apiBodyLimit: configuration.apiBodyLimit))
            clients.add(channel)
        }
    }
}
