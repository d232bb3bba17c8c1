import Logging
import NIOCore
import NIOHTTP1

/// One client connection to the agent (TCP or Unix socket): screens each request
/// (SECURITY S9), routes `/jira/<name>/…` through the proxy and, on the Unix socket, `/v1/…`
/// to the token API. Requests are read by `ClientRequestParser`, one at a time: a pipelined
/// request waits, unparsed, with reads stopped. Reads are also withheld while the upstream cannot take more bytes
/// (backpressure), so a 50 MB upload is never buffered whole.
final class ProxyServerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    /// Responses are written as bytes (`HTTPWire`); there is no response encoder.
    typealias OutboundOut = ByteBuffer

    enum State {
        case idle
        /// An answer was given without forwarding; the rest of the request body is dropped.
        case answered(requestEnded: Bool)
        case api(LocalAPIExchange)
        case proxying(ProxyExchange)
        case closed
    }

    /// Why reads are withheld; reading resumes when none is left.
    struct PauseReasons: OptionSet {
        let rawValue: UInt8
        static let pipelined = PauseReasons(rawValue: 1)
        static let upstreamFull = PauseReasons(rawValue: 2)
        static let notConnected = PauseReasons(rawValue: 4)
        /// The client does not read the agent's answers: no further request is started.
        static let clientFull = PauseReasons(rawValue: 8)
    }

    /// Sent by the server on graceful shutdown: finish the current response, then close.
    struct Quiesce: Sendable {}

    let proxy: JiraProxy
    let listener: ListenerKind
    let peer: PeerCredentials
    let api: (any LocalAPIResponder)?
    let apiBodyLimit: Int
    var context: ChannelHandlerContext!
    var pools: UpstreamPools!
    var state: State = .idle
    var requests: ClientRequestParser
    /// `readRequests` is running further up the stack.
    var readingRequests = false
    var paused: PauseReasons = []
    var closeAfterResponse = false
    var upstreamNeedsFlush = false
    var clientNeedsFlush = false
    var lastActivity = NIODeadline.coarseNow()
    /// A request part or response event arrived since `lastActivity` was last set.
    var sawActivity = false
    /// The request being answered is a HEAD: the agent's own answers carry no body.
    var answeringHEAD = false
    var timer: Scheduled<Void>?
    var rewriters = RewriterCache()
    /// Where the last route name led, reused while the catalog is the same revision: no
    /// name lookup or `Connection` comparison per request.
    var routeCache: (name: String, revision: ConnectionCatalog.Revision, target: UpstreamTarget, pool: UpstreamPool)?
    var bearers = BearerCache()
    /// Inside `channelRead`: writes toward the upstream are flushed once, in
    /// `channelReadComplete`, instead of once per request part.
    var reading = false
    var logger: Logger { proxy.logger }

    init(proxy: JiraProxy, listener: ListenerKind, peer: PeerCredentials,
         api: (any LocalAPIResponder)?, apiBodyLimit: Int) {
        self.proxy = proxy
        self.listener = listener
        self.peer = peer
        self.api = api
        self.apiBodyLimit = apiBodyLimit
        self.requests = ClientRequestParser(maxHeadSize: proxy.configuration.maxHeaderSize)
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.pools = proxy.pools(for: context.eventLoop)
        armTimer(after: timerPeriod)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        state = .closed
        // The context holds this handler and this handler held the context: without
        // breaking the cycle every connection leaked both (about 550 bytes per token-API
        // request; found by measuring RSS over repeated load, bench/token-api.sh).
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .closed = state { return }  // (after the last answer: read and dropped)
        requests.append(unwrapInboundIn(data))
        reading = true
        readRequests()
        reading = false
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // Activity is a request part (a trickled head is none): the clock is read once per
        // batch of reads.
        if sawActivity {
            sawActivity = false
            lastActivity = .coarseNow()
        }
        if upstreamNeedsFlush {
            upstreamNeedsFlush = false
            if case .proxying(let x) = state, let upstream = x.upstream { upstream.channel.flush() }
        }
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if case .proxying(let x) = state, let upstream = x.upstream {
            if context.channel.isWritable { upstream.handler.resumeReads() } else { upstream.handler.pauseReads() }
        }
        if context.channel.isWritable, paused.contains(.clientFull) {
            // Requests already received wait in the parser: no read may come to start them.
            // The next one's time starts now, not when the answers began to back up.
            lastActivity = .coarseNow()
            resume(.clientFull)
            readRequests()
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .proxying(let x) = state { abandonUpstream(x) }
        state = .closed
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is Quiesce {
            closeAfterResponse = true
            if case .idle = state, !requests.hasUnreadBytes { closeAfterWrites(linger: false) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("client connection error", metadata: ["error": "\(String(describing: type(of: error)))"])
        context.close(promise: nil)
    }

    // MARK: Reads

    /// Reads are withheld by turning the channel's `autoRead` off while any reason holds,
    /// rather than by intercepting every `read` (two pipeline hops per request, about 3 % of
    /// the proxy's user time, on the path where nothing is ever withheld).
    func pause(_ reason: PauseReasons) {
        let wasReading = paused.isEmpty
        paused.insert(reason)
        if wasReading { context?.channel.setAutoReadIfActive(false) }
    }

    func resume(_ reason: PauseReasons) {
        guard paused.contains(reason) else { return }
        paused.remove(reason)
        // (A slow token-API answer or token fetch may complete after the connection is gone.)
        if paused.isEmpty { context?.channel.setAutoReadIfActive(true) }
    }

    /// Whether the request of the current exchange has been read to its end, so any further
    /// part belongs to a pipelined request.
    var currentRequestEnded: Bool {
        switch state {
        case .idle, .closed: return false
        case .answered(let ended): return ended
        case .api(let x): return x.requestEnded
        case .proxying(let x): return x.requestEnded
        }
    }

    /// No response bytes of the current request have gone out yet.
    var canAnswer: Bool {
        switch state {
        case .idle, .api: return true
        case .answered, .closed: return false
        case .proxying(let x): return !x.responseStarted
        }
    }

    // MARK: Requests

    /// Hands the parser's events on up to the end of the current request; the next request
    /// is read once this one has been answered (`finishExchange`). Not reentrant: a call from
    /// below one that is running returns at once, and the running one carries on.
    func readRequests() {
        guard !readingRequests else { return }
        readingRequests = true
        defer { readingRequests = false }
        while !currentRequestEnded {
            if case .closed = state { return }
            if case .idle = state, !context.channel.isWritable {
                // Answers the client does not read would pile up (a stream of pipelined
                // requests the agent answers itself): the next request waits until they drain.
                pause(.clientFull)
                break
            }
            let event: ClientRequestParser.Event?
            do {
                event = try requests.next()
            } catch {
                refuse(error)
                return
            }
            guard let event else { break }
            sawActivity = true
            handle(event)
        }
        if currentRequestEnded && requests.hasUnreadBytes { pause(.pipelined) } else { resume(.pipelined) }
    }

    /// Bytes that are not a valid request: answered if nothing of a response has gone out,
    /// and the connection closed either way (where the next request would start is unknown).
    private func refuse(_ error: HTTP1ParseError) {
        logger.info("request refused", metadata: ["code": "bad_request", "error": "\(error.description)", "peer": "\(peer)"])
        if case .idle = state { answeringHEAD = false }  // (the bytes of a head that could not be read)
        guard canAnswer else {
            context.close(promise: nil)
            return
        }
        let (status, code, message): (HTTPResponseStatus, String, String) = switch error.kind {
        case .headTooLarge:
            (.requestHeaderFieldsTooLarge, "headers_too_large",
             "the request head exceeds the agent's limit of \(proxy.configuration.maxHeaderSize) bytes")
        case .unsupportedTransferCoding: (.notImplemented, "bad_request", "only the chunked transfer coding is accepted in requests")
        case .unsupportedVersion: (.httpVersionNotSupported, "bad_request", "the agent serves HTTP/1.1 and HTTP/1.0")
        case .malformed: (.badRequest, "bad_request", "the request is not valid HTTP/1.1: \(error.description)")
        }
        closeAfterResponse = true
        answer(RequestRefusal(status: status, code: code, message: message), version: .http1_1, requestEnded: true)
    }

    func handle(_ part: ClientRequestParser.Event) {
        switch (state, part) {
        case (.idle, .head(let head)):
            start(head)
        case (.answered, .end):
            state = .answered(requestEnded: true)
            finishExchange()
        case (.api(let x), .body(let buffer)):
            if !x.append(buffer) {
                closeAfterResponse = true
                answer(RequestRefusal(status: .payloadTooLarge, code: "body_too_large",
                    message: "the request body exceeds \(apiBodyLimit) bytes"), version: x.head.version)
            }
        case (.api(let x), .end):
            x.requestEnded = true
            dispatchAPI(x)
        case (.proxying(let x), .body(let buffer)):
            requestBody(x, buffer)
        case (.proxying(let x), .end):
            requestEnd(x)
        default:
            break  // body of an answered request, or parts after close
        }
    }

    func start(_ head: ClientRequestHead) {
        answeringHEAD = head.method == .HEAD
        // `Connection: close`, or HTTP/1.0 without keep-alive: this is the last request read
        // (RFC 9112 §9.6), whoever answers it.
        if !head.isKeepAlive { closeAfterResponse = true }
        if let refusal = RequestScreen.check(head, listener: listener, maxBodySize: proxy.configuration.maxRequestBodySize) {
            logger.info("request refused", metadata: ["code": "\(refusal.code)", "peer": "\(peer)"])
            answer(refusal, version: head.version, requestEnded: false, hasBody: head.hasBody)
            return
        }
        if let route = ProxyRoute(head) {
            guard route.staysUnderBase(in: head) else {
                logger.info("request refused", metadata: ["code": "path_escapes_base", "peer": "\(peer)"])
                answer(RequestRefusal(status: .badRequest, code: "path_escapes_base",
                    message: "the path may not contain '.' or '..' segments (also percent-encoded or with ';' parameters), backslashes, encoded slashes (%2F) or a leading '//': it must stay under the connection's Jira base"),
                    version: head.version, requestEnded: false, hasBody: head.hasBody)
                return
            }
            startProxy(head, route: route)
        } else if head.targetHasPrefix("/v1/"), api != nil {
            state = .api(LocalAPIExchange(head: head, limit: apiBodyLimit))
        } else {
            answer(RequestRefusal(status: .notFound, code: "not_found",
                message: "the agent serves /jira/<connection>/… here; \(proxy.knownNames())"),
                version: head.version, requestEnded: false, hasBody: head.hasBody)
        }
    }

    /// Called once the response has been written completely.
    func finishExchange() {
        if case .answered(let ended) = state, !ended { return }  // wait for the request's end
        state = .idle
        lastActivity = .coarseNow()
        sawActivity = false
        // What held reads back for the exchange (its token, its upstream) ended with it, also
        // when the agent answered in its place.
        resume(.notConnected)
        resume(.upstreamFull)
        if closeAfterResponse {
            closeAfterWrites()
            return
        }
        readRequests()
    }

    /// Ends the connection once everything written so far has gone out: NIO's `close`
    /// discards the writes still queued — a large answer to a `Connection: close` request,
    /// or the pipelined answers before it, for a client that reads slowly.
    ///
    /// With `linger`, only the agent's side is closed then (FIN after the answers) and
    /// whatever the client still sends is read and dropped until it closes its own: a full
    /// close with unread input would be a reset, which can destroy answers the client has
    /// not read yet (RFC 9112 §9.6, "lingering close"). Without it (graceful shutdown of
    /// an idle connection: nothing was left unread) the close is full at once.
    ///
    /// A client that stops taking its answers — no byte of them gone for `stallTimeout` —
    /// or, once they are out, does not close its side within `stallTimeout` is cut off.
    func closeAfterWrites(linger: Bool = true) {
        state = .closed
        let channel = context.channel
        // Input from now on is read and dropped, whatever held reading back before.
        requests = ClientRequestParser(maxHeadSize: proxy.configuration.maxHeaderSize)
        paused = []
        channel.setAutoReadIfActive(true)
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0)), promise: written)
        written.futureResult.assumeIsolated().whenComplete { result in
            if linger, case .success = result {
                channel.close(mode: .output, promise: nil)
            } else {
                channel.close(promise: nil)
            }
        }
        Self.watchClosing(channel, every: proxy.configuration.stallTimeout, queued: Self.queuedBytes(channel))
    }

    private static func queuedBytes(_ channel: any Channel) -> Int {
        (try? channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
    }

    /// The limit of `closeAfterWrites`: every `period`, the answers still queued must have
    /// shrunk; once none are (they are all out), the client has that `period` to close.
    ///
    /// The check is cancelled when the channel closes: the scheduled task holds the channel,
    /// and with it the pipeline and this handler, so left to fire it kept every connection
    /// answered with `Connection: close` in memory for `period` after its end (8 KB each:
    /// 40 MB after 5,000 `jira-auth-agent token` calls within a minute).
    private static func watchClosing(_ channel: any Channel, every period: TimeAmount, queued before: Int) {
        let check = channel.eventLoop.assumeIsolated().scheduleTask(in: period) {
            guard channel.isActive else { return }
            let queued = queuedBytes(channel)
            if queued == 0 || queued >= before {
                channel.close(promise: nil)
            } else {
                watchClosing(channel, every: period, queued: queued)
            }
        }
        channel.closeFuture.whenComplete { _ in check.cancel() }
    }
}
