import FoundationEssentials
import NIOCore
import NIOPosix
import NIOHTTP1
import NIOConcurrencyHelpers
import OAuth

/// The loopback redirect listener (RFC 8252 §7.3, §8.3; SECURITY S1, S2).
///
/// Bound on `127.0.0.1` — port 0 chosen by the kernel unless the connection demands
/// exact ports — and held from before the browser opens until the flow ends. The same
/// port is also bound on `[::1]` where possible. Decisions come from `LoopbackFlow`.
final class LoopbackListener: Sendable {
    let port: Int
    private let channels: [any Channel]
    private let state: NIOLockedValueBox<LoopbackFlow?>
    private let outcomePromise: EventLoopPromise<LoopbackFlow.Outcome>
    /// Connections accepted and not yet closed.
    private let accepted: NIOLockedValueBox<[ObjectIdentifier: any Channel]>

    private init(port: Int, channels: [any Channel], state: NIOLockedValueBox<LoopbackFlow?>, promise: EventLoopPromise<LoopbackFlow.Outcome>,
                 accepted: NIOLockedValueBox<[ObjectIdentifier: any Channel]>) {
        self.accepted = accepted
        self.port = port
        self.channels = channels
        self.state = state
        self.outcomePromise = promise
    }

    /// Binds the first free port of `ports` (`[0]`: the kernel chooses). A port in use by
    /// anyone else is skipped, never shared (no `SO_REUSEPORT`).
    static func bind(ports: [Int], group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> LoopbackListener {
        let state = NIOLockedValueBox<LoopbackFlow?>(nil)
        let promise = group.next().makePromise(of: LoopbackFlow.Outcome.self)
        let accepted = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
        let ownUID = PeerCredentials.currentUID
        // SO_REUSEADDR: the listener closes each connection first, which leaves TIME_WAIT
        // entries on its port for a minute; without it a second sign-in on a fixed
        // redirect port within that minute could not bind (measured). On Linux it never
        // lets two sockets listen on one port (that is SO_REUSEPORT, which is not set).
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 16)
            .childChannelInitializer { channel in
                // Only the user's own processes (their browser) may talk to the listener:
                // another local user could otherwise take the one-time start URL (S8).
                guard ProcNetTCP.ownerUID(of: channel) == ownUID else {
                    return channel.eventLoop.makeFailedFuture(AgentError(.badRequest, "peer is not the agent's user"))
                }
                let id = ObjectIdentifier(channel)
                accepted.withLockedValue { $0[id] = channel }
                // A browser sends its request at once; idle connections are not kept.
                let idle = channel.eventLoop.scheduleTask(in: .seconds(30)) { channel.close(promise: nil) }
                channel.closeFuture.whenComplete { _ in
                    idle.cancel()
                    _ = accepted.withLockedValue { $0.removeValue(forKey: id) }
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(LoopbackRequestHandler(state: state, promise: promise))
                }
            }
        var busy: [Int] = []
        for candidate in ports.isEmpty ? [0] : ports {
            let v4: any Channel
            do {
                v4 = try await bootstrap.bind(host: "127.0.0.1", port: candidate).get()
            } catch {
                busy.append(candidate)
                continue
            }
            let port = v4.localAddress?.port ?? candidate
            var channels = [v4]
            if let v6 = try? await bootstrap.bind(host: "::1", port: port).get() { channels.append(v6) }
            return LoopbackListener(port: port, channels: channels, state: state, promise: promise, accepted: accepted)
        }
        promise.fail(AgentError(.authorizationFailed, "no port"))
        let list = busy.map(String.init).joined(separator: ", ")
        throw AgentError(.authorizationFailed,
            "Cannot listen for the sign-in redirect: port\(busy.count == 1 ? "" : "s") \(list) on 127.0.0.1 \(busy.count == 1 ? "is" : "are") in use by another program. Close it (see `ss -ltnp 'sport = :\(busy.first ?? 0)'`) or change redirect_ports.")
    }

    /// Starts answering with `flow`'s decisions.
    func serve(_ flow: LoopbackFlow) {
        state.withLockedValue { $0 = flow }
    }

    /// The code or denial; completes when the flow ends (or fails when closed first).
    /// Cancelling the waiting task closes the listener, so a timeout or a revoke really
    /// ends the flow (a future's `get()` alone ignores cancellation).
    var outcome: LoopbackFlow.Outcome {
        get async throws {
            try await withTaskCancellationHandler {
                try await outcomePromise.futureResult.get()
            } onCancel: {
                self.close()
            }
        }
    }

    /// Ends the flow: no further request is answered. Idempotent.
    func close(reason: AgentError? = nil) {
        outcomePromise.fail(reason ?? AgentError(.authorizationFailed, "The sign-in was cancelled."))
        for channel in channels { channel.close(promise: nil) }
        for channel in accepted.withLockedValue({ Array($0.values) }) { channel.close(promise: nil) }
    }

    /// `close(reason:)`, then waits until the listening sockets and the connections open
    /// now are closed (`close` only starts closing): their port can then be bound again.
    func closeAndWait(reason: AgentError? = nil) async {
        let open = channels + accepted.withLockedValue { Array($0.values) }
        close(reason: reason)
        for channel in open { try? await channel.closeFuture.get() }
    }
}

/// Answers one request at a time on a loopback connection, then closes it.
private final class LoopbackRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let state: NIOLockedValueBox<LoopbackFlow?>
    let promise: EventLoopPromise<LoopbackFlow.Outcome>
    var head: HTTPRequestHead?

    init(state: NIOLockedValueBox<LoopbackFlow?>, promise: EventLoopPromise<LoopbackFlow.Outcome>) {
        self.state = state
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break   // bodies are ignored; callbacks are GETs
        case .end:
            guard let head else { return }
            self.head = nil
            respond(context: context, to: head)
        }
    }

    private func respond(context: ChannelHandlerContext, to head: HTTPRequestHead) {
        let components = URLComponents(string: head.uri)
        let path = components?.path ?? ""
        // `+` means space in a form-encoded query (URLComponents does not decode it).
        let query = components?.percentEncodedQuery.map { AuthorizationResponse.queryItems(percentEncodedQuery: $0) } ?? []
        let action: LoopbackFlow.Action? = state.withLockedValue { flow in
            flow?.handle(method: head.method.rawValue, path: path, query: query, host: head.headers.first(name: "host"))
        }
        var headers = HTTPHeaders()
        headers.add(name: "Referrer-Policy", value: "no-referrer")
        headers.add(name: "Cache-Control", value: "no-store")
        headers.add(name: "Content-Security-Policy", value: "default-src 'none'; style-src 'unsafe-inline'")
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        headers.add(name: "Connection", value: "close")
        var status = HTTPResponseStatus.serviceUnavailable
        var page = LoopbackPage.notForThisListener
        switch action {
        case .none:
            break
        case .redirect(let url)?:
            status = .found
            headers.add(name: "Location", value: url.absoluteString)
        case .page(let code, let p)?:
            status = HTTPResponseStatus(statusCode: code)
            page = p
        case .finish(let p, let outcome)?:
            status = .ok
            page = p
            promise.succeed(outcome)
        }
        let body = status == .found ? "" : page.html
        headers.add(name: "Content-Type", value: "text/html; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD, !body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
