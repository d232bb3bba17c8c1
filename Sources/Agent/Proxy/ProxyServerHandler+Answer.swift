import FoundationEssentials
import Logging
import NIOCore
import NIOHTTP1

/// The agent's own answers (errors in the one local error shape, token-API responses) and
/// the connection's timer.
extension ProxyServerHandler {
    /// Writes a JSON error response. With `requestEnded == false` the rest of the request is
    /// awaited (and dropped) before the connection takes the next one; a request that still
    /// has a body to come closes the connection instead.
    func answer(_ refusal: RequestRefusal, version: HTTPVersion, requestEnded: Bool? = nil, hasBody: Bool = false) {
        let ended = requestEnded ?? currentRequestEnded
        if !ended && hasBody { closeAfterResponse = true }
        if case .proxying(let x) = state { abandonUpstream(x) }
        state = .answered(requestEnded: ended || closeAfterResponse)
        writeResponse(status: refusal.status, version: version,
                      headers: [("Content-Type", "application/json")],
                      body: LocalErrorBody.json(code: refusal.code, message: refusal.message))
        finishExchange()
    }

    /// Writes a complete response with `Content-Length` and flushes.
    func writeResponse(status: HTTPResponseStatus, version: HTTPVersion, headers: [(String, String)], body: [UInt8]) {
        let response = HTTPWire.response(context.channel.allocator, minor: version.minor == 0 ? 0 : 1, status: Int(status.code),
                                         headers: headers, body: body, toHEAD: answeringHEAD, close: closeAfterResponse)
        context.writeAndFlush(wrapOutboundOut(response), promise: nil)
    }

    // MARK: Token API

    /// Hands a complete `/v1/` request to the responder, then writes its answer.
    func dispatchAPI(_ x: LocalAPIExchange) {
        guard let api else { return }
        pause(.notConnected)
        let request = x.request(peer: peer)
        let promise = context.eventLoop.makePromise(of: LocalAPIResponse.self)
        if let immediate = api.respondWithoutSuspending(request) {
            promise.succeed(immediate)   // the hot path: a cached token, no task, no actor hop
        } else {
            promise.completeWithTask { await api.respond(request) }
        }
        promise.futureResult.assumeIsolated().whenSuccess { [self] response in
            resume(.notConnected)
            guard case .api(let current) = state, current === x else { return }
            var headers = response.headers.map { ($0.name, $0.value) }
            if !response.body.isEmpty, !headers.contains(where: { $0.0.lowercased() == "content-type" }) {
                headers.append(("Content-Type", "application/json"))
            }
            headers.removeAll { ["content-length", "transfer-encoding", "connection"].contains($0.0.lowercased()) }
            state = .answered(requestEnded: true)
            writeResponse(status: HTTPResponseStatus(statusCode: response.status), version: x.head.version,
                          headers: headers, body: [UInt8](response.body))
            finishExchange()
        }
    }

    // MARK: Timer

    /// One timer per connection, re-armed at the current deadline when it fires: an idle
    /// connection or an incomplete request head is closed after `clientIdleTimeout`, an
    /// upstream that does not answer gets 504, a stalled transfer is cut. It fires at least
    /// every `timerPeriod`, so a limit shorter than the one it was armed for (the state
    /// changed since) is kept to within that.
    func armTimer(after delay: TimeAmount) {
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            timer = nil
            timerFired()
        }
    }

    private func timerFired() {
        let c = proxy.configuration
        let limit: TimeAmount
        switch state {
        case .closed: return
        case .idle, .answered: limit = c.clientIdleTimeout
        case .api: limit = c.upstreamResponseTimeout
        case .proxying(let x):
            if x.token == nil { limit = c.tokenWait + .seconds(5) }
            else if case .waiting = x.response { limit = c.upstreamResponseTimeout }
            else { limit = c.stallTimeout }
        }
        let deadline = lastActivity + limit
        let now = NIODeadline.now()
        guard now >= deadline else {
            armTimer(after: min(deadline - now, timerPeriod))
            return
        }
        logger.debug("connection timed out", metadata: ["state": "\(stateName)"])
        closeAfterResponse = true
        if case .proxying(let x) = state, !x.responseStarted {
            answer(.upstreamTimeout, version: x.head.version, requestEnded: true)
        } else {
            context.close(promise: nil)
        }
    }

    /// The shortest of the limits the timer enforces.
    var timerPeriod: TimeAmount {
        let c = proxy.configuration
        return min(c.clientIdleTimeout, c.upstreamResponseTimeout, c.stallTimeout, c.tokenWait + .seconds(5))
    }

    var stateName: String {
        switch state {
        case .idle: return "idle"
        case .answered: return "answered"
        case .api: return "api"
        case .proxying: return "proxying"
        case .closed: return "closed"
        }
    }
}

/// A token-API request being read: bounded body (SECURITY S9).
final class LocalAPIExchange {
    let head: ClientRequestHead
    let limit: Int
    var body: [UInt8] = []
    var requestEnded = false

    init(head: ClientRequestHead, limit: Int) {
        self.head = head
        self.limit = limit
    }

    /// `false` when the body would exceed the limit.
    func append(_ buffer: ByteBuffer) -> Bool {
        guard body.count + buffer.readableBytes <= limit else { return false }
        body += buffer.readableBytesView
        return true
    }

    func request(peer: PeerCredentials) -> LocalAPIRequest {
        let uri = head.uri
        let q = uri.firstIndex(of: "?")
        return LocalAPIRequest(
            method: head.method.rawValue,
            path: String(uri[..<(q ?? uri.endIndex)]),
            query: q.map { String(uri[uri.index(after: $0)...]) },
            headers: head.fieldStrings,
            body: Data(body), peer: peer)
    }
}
