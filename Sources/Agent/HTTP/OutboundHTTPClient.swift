import FoundationEssentials
public import NIOCore
public import NIOPosix
import NIOConcurrencyHelpers
import NIOHTTP1
import NIOSSL
public import OAuth

/// A small HTTP/1.1 client for the low-rate calls to the authorization server and the
/// gateway: token, revocation, discovery, device authorization, `myself`.
///
/// Deliberately minimal and strict (SECURITY S9, S11, S13): one request per connection,
/// TLS verified (system roots plus an optional CA bundle), no redirects followed, no
/// cookies, no cache, a bounded response body and a deadline for the whole exchange.
public struct OutboundHTTPClient: Sendable {
    public var timeout: TimeAmount
    public var maxBodyBytes: Int
    let group: any EventLoopGroup
    /// `HTTPS_PROXY`: https targets are tunnelled through it (CONNECT) unless `NO_PROXY`
    /// exempts them.
    public var forwardProxy: ForwardProxy?

    public init(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, timeout: TimeAmount = .seconds(20), maxBodyBytes: Int = 1 << 20,
                forwardProxy: ForwardProxy? = try? ForwardProxy.fromProcessEnvironment.get()) {
        self.group = group
        self.timeout = timeout
        self.maxBodyBytes = maxBodyBytes
        self.forwardProxy = forwardProxy
    }

    /// Sends `request` and returns the response, whatever its status. Throws `AgentError`
    /// with code `.transient` for network, TLS and time-out failures.
    public func send(_ request: HTTPRequestSpec, tls options: TLSOptions = TLSOptions()) async throws -> HTTPResponseSpec {
        guard let scheme = request.url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = request.url.host, !host.isEmpty else {
            throw AgentError(.configuration, "Cannot send a request to \(Self.redactedTarget(request.url)): only absolute http(s) URLs are supported.")
        }
        let tls = scheme == "https"
        let port = request.url.port ?? (tls ? 443 : 80)
        if tls, forwardProxy == nil, let problem = ForwardProxy.environmentProblem { throw problem }   // never silently direct
        let sslContext: NIOSSLContext?
        if tls {
            do { sslContext = try TLSContexts.shared.context(options) } catch let error as AgentError {
                throw error
            } catch {
                throw AgentError(.configuration, "Cannot set up TLS for \(host): \(error). Check ca_bundle.")
            }
        } else {
            sslContext = nil
        }
        let promise = group.next().makePromise(of: HTTPResponseSpec.self)
        let limit = maxBodyBytes
        let proxy = tls ? forwardProxy.flatMap { $0.applies(to: host) ? $0 : nil } : nil
        let bareHost = host.trimming(while: { $0 == "[" || $0 == "]" })
        if proxy != nil, !ConnectTunnelHandler.isSafeHost(bareHost) {
            throw AgentError(.configuration, "Refusing to send \(Self.redactedTarget(request.url)) through the HTTPS proxy: the host name has characters a host cannot have.")
        }
        // The handlers that speak to the target; through a proxy, added once the tunnel is open.
        @Sendable func addTargetHandlers(_ channel: any Channel) throws {
            if let sslContext {
                let handler = try NIOSSLClientHandler(context: sslContext, serverHostname: Self.isIPLiteral(host) ? nil : host)
                try channel.pipeline.syncOperations.addHandler(handler)
            }
            try channel.pipeline.syncOperations.addHTTPClientHandlers()
            try channel.pipeline.syncOperations.addHandler(ResponseCollector(promise: promise, limit: limit))
        }
        let eventLoop = group.next()
        let tunnel = eventLoop.makePromise(of: Void.self)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let proxy {
                        try channel.pipeline.syncOperations.addHandler(ConnectTunnelHandler(host: bareHost, port: port, proxy: proxy, promise: tunnel))
                    } else {
                        try addTargetHandlers(channel)
                    }
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: proxy?.host ?? host, port: proxy?.port ?? port).get()
        } catch {
            promise.fail(error)
            tunnel.fail(error)
            let via = proxy.map { " through the HTTPS proxy \($0)" } ?? ""
            throw AgentError(.transient, "Cannot connect to \(proxy.map { "\($0.host):\($0.port)" } ?? "\(host):\(port)")\(via) (\(Self.describe(error))). Check the network and the URL.", underlying: nil)
        }
        if proxy != nil {
            let opened = tunnel.futureResult.flatMapThrowing { try addTargetHandlers(channel) }
            let guardTime = channel.eventLoop.scheduleTask(in: timeout) {
                tunnel.fail(AgentError(.transient, "The HTTPS proxy did not open a tunnel to \(host):\(port) within \(timeout.nanoseconds / 1_000_000_000) s."))
                channel.close(promise: nil)
            }
            do {
                try await opened.get()
                guardTime.cancel()
            } catch {
                guardTime.cancel()
                promise.fail(error)
                channel.close(promise: nil)
                throw error as? AgentError ?? AgentError(.transient, "The HTTPS proxy failed (\(Self.describe(error))).")
            }
        } else {
            tunnel.succeed()
        }
        let deadline = channel.eventLoop.scheduleTask(in: timeout) {
            promise.fail(AgentError(.transient, "No answer from \(host):\(port) within \(timeout.nanoseconds / 1_000_000_000) s."))
            channel.close(promise: nil)
        }
        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: request.method), uri: Self.requestTarget(request.url))
        let hostForHeader = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host   // IPv6 literal
        head.headers.add(name: "Host", value: request.url.port.map { "\(hostForHeader):\($0)" } ?? hostForHeader)
        head.headers.add(name: "User-Agent", value: "jira-auth-agent")
        head.headers.add(name: "Connection", value: "close")
        for (name, value) in request.headers { head.headers.add(name: name, value: value) }
        if !request.body.isEmpty || request.method == "POST" || request.method == "PUT" {
            head.headers.replaceOrAdd(name: "Content-Length", value: String(request.body.count))
        }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if !request.body.isEmpty {
            channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: request.body))), promise: nil)
        }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        do {
            let response = try await promise.futureResult.get()
            deadline.cancel()
            channel.close(promise: nil)
            return response
        } catch let error as AgentError {
            deadline.cancel()
            channel.close(promise: nil)
            throw error
        } catch {
            deadline.cancel()
            channel.close(promise: nil)
            throw AgentError(.transient, "The exchange with \(host):\(port) failed (\(Self.describe(error))).")
        }
    }

    static func requestTarget(_ url: URL) -> String {
        var components = URLComponents(url: url, resolvingAgainstBaseURL: false)
        let path = components?.percentEncodedPath ?? "/"
        let query = components?.percentEncodedQuery
        components = nil
        return (path.isEmpty ? "/" : path) + (query.map { "?\($0)" } ?? "")
    }

    /// Scheme, host and path only: queries may carry secrets.
    static func redactedTarget(_ url: URL) -> String {
        "\(url.scheme ?? "?")://\(url.host ?? "?")\(url.path)"
    }

    static func isIPLiteral(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host.trimming { $0 == "[" || $0 == "]" }, port: 0)) != nil
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? NIOSSLError { return "TLS: \(e)" }
        if let e = error as? BoringSSLError { return "TLS: \(e)" }
        if error is ChannelError { return "connection error: \(error)" }
        return "\(error)"
    }
}

/// Collects one response, refusing bodies over `limit` (SECURITY: hostile servers).
private final class ResponseCollector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    let promise: EventLoopPromise<HTTPResponseSpec>
    let limit: Int
    var head: HTTPResponseHead?
    var body = ByteBuffer()

    init(promise: EventLoopPromise<HTTPResponseSpec>, limit: Int) {
        self.promise = promise
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
        case .body(var chunk):
            if body.readableBytes + chunk.readableBytes > limit {
                promise.fail(AgentError(.protocolViolation, "The server's response is larger than \(limit) bytes; refused."))
                context.close(promise: nil)
                return
            }
            body.writeBuffer(&chunk)
        case .end:
            guard let head else { return }
            let headers = head.headers.map { (name: $0.name, value: $0.value) }
            promise.succeed(HTTPResponseSpec(status: Int(head.status.code), headers: headers, body: Data(body.readableBytesView)))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(AgentError(.transient, "The server closed the connection before answering completely."))
    }
}
