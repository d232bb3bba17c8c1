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

    public init(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, timeout: TimeAmount = .seconds(20), maxBodyBytes: Int = 1 << 20) {
        self.group = group
        self.timeout = timeout
        self.maxBodyBytes = maxBodyBytes
    }

    /// Sends `request` and returns the response, whatever its status. Throws `AgentError`
    /// with code `.transient` for network, TLS and time-out failures.
    public func send(_ request: HTTPRequestSpec, caBundle: String? = nil) async throws -> HTTPResponseSpec {
        guard let scheme = request.url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = request.url.host, !host.isEmpty else {
            throw AgentError(.configuration, "Cannot send a request to \(Self.redactedTarget(request.url)): only absolute http(s) URLs are supported.")
        }
        let tls = scheme == "https"
        let port = request.url.port ?? (tls ? 443 : 80)
        let sslContext: NIOSSLContext?
        if tls {
            do { sslContext = try Self.tlsContext(caBundle: caBundle) } catch {
                throw AgentError(.configuration, "Cannot set up TLS for \(host): \(error). Check ca_bundle.")
            }
        } else {
            sslContext = nil
        }
        let promise = group.next().makePromise(of: HTTPResponseSpec.self)
        let limit = maxBodyBytes
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        let handler = try NIOSSLClientHandler(context: sslContext, serverHostname: Self.isIPLiteral(host) ? nil : host)
                        try channel.pipeline.syncOperations.addHandler(handler)
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector(promise: promise, limit: limit))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: host, port: port).get()
        } catch {
            promise.fail(error)
            throw AgentError(.transient, "Cannot connect to \(host):\(port) (\(Self.describe(error))). Check the network and the URL.", underlying: nil)
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

    /// One verifying TLS context per CA bundle: building one reads the system trust store,
    /// which is too slow to repeat for every request.
    private static let tlsContexts = NIOLockedValueBox<[String: NIOSSLContext]>([:])

    static func tlsContext(caBundle: String?) throws -> NIOSSLContext {
        let key = caBundle ?? ""
        if let cached = tlsContexts.withLockedValue({ $0[key] }) { return cached }
        var config = TLSConfiguration.makeClientConfiguration()
        config.certificateVerification = .fullVerification
        if let caBundle { config.additionalTrustRoots = [.file(caBundle)] }
        let context = try NIOSSLContext(configuration: config)
        tlsContexts.withLockedValue { $0[key] = context }
        return context
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
