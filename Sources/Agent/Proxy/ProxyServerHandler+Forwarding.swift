import FoundationEssentials
import Logging
import NIOCore
import NIOHTTP1
import OAuth

/// The request half of the proxy: resolve the connection, get the token (cached on the hot
/// path, else the sessions' single flight, bounded), take a pooled upstream connection on
/// this event loop, and stream the request to it.
extension ProxyServerHandler {
    func startProxy(_ head: ClientRequestHead, route: ProxyRoute) {
        do {
            let (target, pool) = try resolve(route.name, in: proxy.catalog())
            startProxy(head, route: route, target: target, pool: pool)
        } catch {
            answer(error, version: head.version, requestEnded: false, hasBody: head.hasBody)
        }
    }

    /// Where a route name leads: the connection's upstream and this loop's pool for it, kept
    /// in `routeCache` while the catalog is the same revision (no name lookup or `Connection`
    /// comparison per request).
    func resolve(_ name: String, in catalog: ConnectionCatalog) throws(RequestRefusal) -> (UpstreamTarget, UpstreamPool) {
        if let cached = routeCache, cached.revision === catalog.revision, cached.name == name {
            return (cached.target, cached.pool)
        }
        guard let connection = catalog.resolve(name) else {
            throw RequestRefusal(status: .notFound, code: "unknown_connection",
                message: "no connection, team or alias named '\(name.prefix(100))'; \(proxy.knownNames()) (jira-auth-agent connections list)")
        }
        let target: UpstreamTarget, pool: UpstreamPool
        do {
            (target, pool) = try pools.lookup(connection)
        } catch {
            throw RequestRefusal(status: .badGateway, code: "configuration",
                message: (error as? AgentError)?.message ?? "the connection's upstream is not usable")
        }
        routeCache = (name, catalog.revision, target, pool)
        return (target, pool)
    }

    func startProxy(_ head: ClientRequestHead, route: ProxyRoute, target: UpstreamTarget, pool: UpstreamPool) {
        let clientHost = head.first("host").map(head.string) ?? "localhost"
        let x = ProxyExchange(head: head, name: route.name, target: target, clientHost: clientHost,
                              maxReplayBodySize: proxy.configuration.maxReplayBodySize)
        x.routeRest = route.rest
        x.pool = pool
        state = .proxying(x)
        if let token = proxy.tokens.cachedAccessToken(connection: target.connectionID, minValid: proxy.configuration.minTokenValidity) {
            proceed(x, token: token)
        } else {
            fetchToken(x)
        }
    }

    /// The slow path: no cached token. Waits for the session (bounded by `tokenWait`).
    func fetchToken(_ x: ProxyExchange, rejected: String? = nil) {
        pause(.notConnected)
        let tokens = proxy.tokens
        let id = x.target.connectionID
        let c = proxy.configuration
        let promise = context.eventLoop.makePromise(of: String.self)
        promise.completeWithTask {
            try await withTimeLimit(c.tokenWait) {
                if let rejected {
                    return try await tokens.refreshAfterRejection(connection: id, rejected: rejected).accessToken
                }
                return try await tokens.accessToken(connection: id, minValid: c.minTokenValidity, interactive: c.interactive).accessToken
            }
        }
        promise.futureResult.assumeIsolated().whenComplete { [self] result in
            guard case .proxying(let current) = state, current === x else { return }
            switch result {
            case .success(let token):
                lastActivity = .coarseNow()  // the wait for the token is over; the upstream's time starts
                guard targetIsCurrent(x) else {
                    logger.info("connection reconfigured during the token wait", metadata: ["connection": "\(id)"])
                    answer(RequestRefusal(status: .serviceUnavailable, code: "configuration_changed",
                        message: "the connection '\(id)' was reconfigured while this request waited for a token; send it again"),
                        version: x.head.version, hasBody: !x.requestEnded)
                    return
                }
                proceed(x, token: token)
            case .failure(let error):
                logger.info("no token for proxied request", metadata: ["connection": "\(id)", "reason": "\(Self.reason(error))"])
                answer(authorizationRefusal(id: id, error: error), version: x.head.version,
                       hasBody: !x.requestEnded)
            }
        }
    }

    /// After a wait the catalog may have been reloaded (SIGHUP), and the token came from the
    /// session of the current configuration: the exchange goes on only if that still sends
    /// it to the servers the exchange was started for (S9, `issued_for`).
    func targetIsCurrent(_ x: ProxyExchange) -> Bool {
        (try? resolve(x.name, in: proxy.catalog()))?.0 == x.target
    }

    func authorizationRefusal(id: String, error: any Error) -> RequestRefusal {
        let agentError = error as? AgentError
        switch agentError?.code {
        case .keyringLocked, .keyringUnavailable, .transient:
            return RequestRefusal(status: .serviceUnavailable, code: agentError!.code.rawValue, message: agentError!.message)
        case .unknownConnection:
            return RequestRefusal(status: .notFound, code: "unknown_connection", message: agentError!.message)
        default:
            let why = error is TimeLimitExceeded ? "the authorization did not complete in time" : "no valid token for connection '\(id)'"
            return RequestRefusal(status: .unauthorized, code: "authorization_required",
                message: "\(why); authorize with: jira-auth-agent login \(id)")
        }
    }

    static func reason(_ error: any Error) -> String {
        if let e = error as? AgentError { return e.code.rawValue }
        return String(describing: type(of: error))
    }

    /// Token in hand: build the upstream head and find a connection.
    func proceed(_ x: ProxyExchange, token: String) {
        x.token = token
        guard let bearer = bearers.header(for: token) else {
            logger.warning("access token with control characters refused", metadata: ["connection": "\(x.target.connectionID)"])
            answer(RequestRefusal(status: .badGateway, code: "invalid_token",
                message: "the stored access token for '\(x.target.connectionID)' contains characters that cannot be sent in a header; sign in again: jira-auth-agent login \(x.target.connectionID)"),
                version: x.head.version, hasBody: !x.requestEnded)
            return
        }
        let (out, chunked) = ProxyMessages.upstreamRequestHead(x.head, rest: x.routeRest, target: x.target, bearer: bearer,
                                                               allocator: context.channel.allocator)
        x.upstreamHead = out
        x.upstreamChunked = chunked
        if x.expectsContinue, !x.requestEnded, x.head.version.minor >= 1 {
            // (An HTTP/1.0 client's expectation is ignored, RFC 9110 §10.1.1.)
            var line = context.channel.allocator.buffer(capacity: 25)
            line.writeStaticString("HTTP/1.1 100 Continue\r\n\r\n")
            context.writeAndFlush(wrapOutboundOut(line), promise: nil)
        }
        if let connection = x.pool?.takeIdle() {
            attach(x, connection, reused: true)
        } else {
            connectUpstream(x)
        }
    }

    func connectUpstream(_ x: ProxyExchange) {
        guard let pool = x.pool else { return }
        pause(.notConnected)
        pool.connect().assumeIsolated().whenComplete { [self] result in
            guard case .proxying(let current) = state, current === x else {
                if case .success(let connection) = result { x.pool?.release(connection) }
                return
            }
            switch result {
            case .success(let connection):
                attach(x, connection, reused: false)
            case .failure(let error):
                logger.info("upstream connect failed", metadata: ["connection": "\(x.target.connectionID)", "error": "\(Self.reason(error))"])
                let timedOut = error is ChannelError && (error as! ChannelError) == .connectTimeout(proxy.configuration.upstreamConnectTimeout)
                answer(.upstreamUnreachable(x.target, timedOut: timedOut), version: x.head.version, hasBody: !x.requestEnded)
            }
        }
    }

    /// Sends everything received so far on `connection`.
    func attach(_ x: ProxyExchange, _ connection: UpstreamConnection, reused: Bool) {
        x.upstream = connection
        x.upstreamReused = reused
        connection.handler.delegate = self
        let channel = connection.channel
        if !context.channel.isWritable { connection.handler.pauseReads() }
        connection.handler.expectResponse(toHEAD: x.head.method == .HEAD)
        channel.write(x.upstreamHead!, promise: nil)
        for buffer in x.pendingBody { writeBodyUpstream(x, channel, buffer) }
        x.pendingBody.removeAll()
        if x.requestEnded {
            x.endSentUpstream = true
            writeEndUpstream(x, channel)
        }
        if !reading { lastActivity = .coarseNow() }  // (inside `channelRead`, the batch's end stamps it)
        flushUpstream(channel)
        resume(.notConnected)
        if !channel.isWritable { pause(.upstreamFull) }
    }

    func requestBody(_ x: ProxyExchange, _ buffer: ByteBuffer) {
        x.bodyBytes += Int64(buffer.readableBytes)
        if x.bodyBytes > proxy.configuration.maxRequestBodySize {
            closeAfterResponse = true
            if !x.responseStarted {
                answer(RequestRefusal(status: .payloadTooLarge, code: "body_too_large",
                    message: "the request body exceeds the agent's limit of \(proxy.configuration.maxRequestBodySize) bytes"),
                    version: x.head.version, requestEnded: true)
            } else {
                context.close(promise: nil)
            }
            return
        }
        if x.replayable {
            if x.bodyBytes <= Int64(proxy.configuration.maxReplayBodySize) { x.replayBody.append(buffer) }
            else { x.replayable = false; x.replayBody = [] }
        }
        if let upstream = x.upstream, x.token != nil {
            writeBodyUpstream(x, upstream.channel, buffer)
            flushUpstream(upstream.channel)
        } else {
            x.pendingBody.append(buffer)
            pause(.notConnected)
        }
    }

    /// Inside `channelRead` the flush waits for `channelReadComplete` (one per batch of
    /// reads); a request read from the parser at any other time (after the previous answer,
    /// after the client drained its answers) has no such batch to wait for.
    func flushUpstream(_ channel: any Channel) {
        if reading {
            upstreamNeedsFlush = true
        } else {
            channel.flush()
            upstreamNeedsFlush = false
        }
    }

    func requestEnd(_ x: ProxyExchange) {
        x.requestEnded = true
        if let upstream = x.upstream, !x.endSentUpstream {
            x.endSentUpstream = true
            writeEndUpstream(x, upstream.channel)
            flushUpstream(upstream.channel)
        }
        if case .finished = x.response { finishExchange() }
    }

    /// A part of the request body, chunk-framed when the caller's was chunked (the request
    /// parser has taken the caller's framing off).
    func writeBodyUpstream(_ x: ProxyExchange, _ channel: any Channel, _ buffer: ByteBuffer) {
        guard buffer.readableBytes > 0 else { return }
        if x.upstreamChunked {
            channel.write(HTTPWire.chunkHeader(channel.allocator, size: buffer.readableBytes), promise: nil)
            channel.write(buffer, promise: nil)
            channel.write(HTTPWire.crlf, promise: nil)
        } else {
            channel.write(buffer, promise: nil)
        }
    }

    /// The end of a chunked request body: the last chunk and no trailers.
    func writeEndUpstream(_ x: ProxyExchange, _ channel: any Channel) {
        if x.upstreamChunked { channel.write(HTTPWire.lastChunk, promise: nil) }
    }


    /// Drops the exchange's upstream connection: mid-exchange it cannot be reused.
    func abandonUpstream(_ x: ProxyExchange) {
        guard let upstream = x.upstream else { return }
        x.upstream = nil
        upstream.handler.delegate = nil
        upstream.channel.close(promise: nil)
    }
}

/// Thrown by `withTimeLimit` when the time is up.
struct TimeLimitExceeded: Error {}

/// Runs `body`, cancelling it after `limit`.
func withTimeLimit<T: Sendable>(_ limit: TimeAmount, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(nanoseconds: UInt64(max(0, limit.nanoseconds)))
            throw TimeLimitExceeded()
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
