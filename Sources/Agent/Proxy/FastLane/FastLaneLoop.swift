import CAgentSystem
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The fast lane's event loop (`FastLane` says what it serves and why). Level-triggered
/// epoll; everything here runs on the lane's one thread (hence `@exclusivity(unchecked)`,
/// FastLaneConnections.swift says why).
final class FastLaneLoop {
    let lane: FastLane
    let proxy: JiraProxy
    let configuration: ProxyConfiguration
    let ep: Int32
    let allocator = ByteBufferAllocator()
    let listenerKind: ListenerKind
    /// Indexed by descriptor.
    @exclusivity(unchecked) var clients: [FastClient?] = []
    @exclusivity(unchecked) var upstreams: [FastUpstream?] = []
    @exclusivity(unchecked) var clientCount = 0
    /// Idle upstream connections by `UpstreamTarget.poolKey`.
    @exclusivity(unchecked) var pools: [String: FastPool] = [:]
    @exclusivity(unchecked) var idleCount = 0
    @exclusivity(unchecked) var nextGeneration: UInt32 = 1
    @exclusivity(unchecked) var now = NIODeadline.coarseNow()
    @exclusivity(unchecked) var lastSweep = NIODeadline.coarseNow()
    let sweepPeriod: TimeAmount
    @exclusivity(unchecked) var draining = false
    @exclusivity(unchecked) var drainDeadline: NIODeadline?
    @exclusivity(unchecked) var listening = true
    @exclusivity(unchecked) var listenerClosed = false
    /// Where the last route name led while the catalog is the same revision.
    @exclusivity(unchecked) var routeCache: (name: String, revision: ConnectionCatalog.Revision, target: UpstreamTarget, address: String?, pool: FastPool)?
    @exclusivity(unchecked) var bearers = BearerCache()
    @exclusivity(unchecked) var rewriters = RewriterCache()
    var logger: Logger { proxy.logger }

    /// Client answers queued beyond this stop reads from the upstream until they drain.
    static let highWater = 256 * 1024
    /// Pipelined bytes read ahead of the request being served beyond this stop reads.
    static let readAhead = 64 * 1024
    static let clientReadSize = 4096
    static let upstreamReadSize = 16 * 1024

    init(lane: FastLane) {
        self.lane = lane
        self.proxy = lane.proxy
        self.configuration = lane.proxy.configuration
        self.listenerKind = .tcp(port: lane.port)
        self.ep = csystem_epoll_create()
        let c = configuration
        let shortest = min(c.clientIdleTimeout, c.upstreamResponseTimeout, c.stallTimeout, c.upstreamConnectTimeout, c.upstreamIdleTimeout)
        sweepPeriod = max(.milliseconds(10), min(.seconds(1), .nanoseconds(shortest.nanoseconds / 4)))
    }

    // MARK: The loop

    func run() {
        guard ep >= 0 else {
            logger.error("the proxy's fast lane could not create an epoll instance", metadata: ["errno": "\(errno)"])
            closeListener()
            return
        }
        defer { close(ep) }
        _ = csystem_epoll_control(ep, 1, lane.listener, CSYSTEM_EPOLL_IN, FastLaneToken.make(kind: FastLaneToken.listener, fd: lane.listener, generation: 0))
        _ = csystem_epoll_control(ep, 1, lane.wake, CSYSTEM_EPOLL_IN, FastLaneToken.make(kind: FastLaneToken.wake, fd: lane.wake, generation: 0))
        var data = [UInt64](repeating: 0, count: 64)
        var events = [UInt32](repeating: 0, count: 64)
        let periodMs = Int32(max(1, sweepPeriod.nanoseconds / 1_000_000))
        while true {
            let n = csystem_epoll_wait(ep, &data, &events, 64, clientCount > 0 || idleCount > 0 || draining || !listening ? periodMs : -1)
            if n < 0, errno != EINTR {
                logger.error("the proxy's fast lane stopped: epoll_wait failed", metadata: ["errno": "\(errno)"])
                break
            }
            now = .coarseNow()
            for i in 0..<Int(max(0, n)) {
                let (kind, fd, generation) = FastLaneToken.parts(data[i])
                let ready = events[i]
                switch kind {
                case FastLaneToken.listener: accept()
                case FastLaneToken.wake:
                    csystem_eventfd_drain(lane.wake)
                    if lane.stopping.load(ordering: .acquiring) { beginDrain() }
                case FastLaneToken.client:
                    guard let client = client(fd, generation) else { continue }
                    clientReady(client, ready)
                default:
                    guard let upstream = upstream(fd, generation) else { continue }
                    upstreamReady(upstream, ready)
                }
            }
            if now - lastSweep >= sweepPeriod {
                lastSweep = now
                sweep()
            }
            if draining, clientCount == 0 { break }
        }
        for client in clients.compactMap({ $0 }) { closeClient(client) }
        for upstream in upstreams.compactMap({ $0 }) { closeUpstream(upstream) }
        closeListener()
    }

    private func client(_ fd: Int32, _ generation: UInt32) -> FastClient? {
        guard fd >= 0, Int(fd) < clients.count, let c = clients[Int(fd)], c.generation == generation else { return nil }
        return c
    }

    private func upstream(_ fd: Int32, _ generation: UInt32) -> FastUpstream? {
        guard fd >= 0, Int(fd) < upstreams.count, let u = upstreams[Int(fd)], u.generation == generation else { return nil }
        return u
    }

    private func generation() -> UInt32 {
        nextGeneration = nextGeneration &+ 1
        return nextGeneration & 0xFF_FFFF
    }

    private func setInterest(client c: FastClient, _ events: UInt32) {
        guard c.interest != events else { return }
        c.interest = events
        _ = csystem_epoll_control(ep, 3, c.fd, events, FastLaneToken.make(kind: FastLaneToken.client, fd: c.fd, generation: c.generation))
    }

    private func setInterest(upstream u: FastUpstream, _ events: UInt32) {
        guard u.interest != events else { return }
        u.interest = events
        _ = csystem_epoll_control(ep, 3, u.fd, events, FastLaneToken.make(kind: FastLaneToken.upstream, fd: u.fd, generation: u.generation))
    }

    // MARK: Accepting

    private func accept() {
        for _ in 0..<64 {
            let fd = csystem_tcp_accept(lane.listener)
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if errno != EAGAIN && errno != EWOULDBLOCK {
                    // Out of descriptors (EMFILE, ENFILE) or memory: the pending connection
                    // stays ready, so accepting pauses until the next sweep rather than spin.
                    logger.warning("accept failed; pausing new connections", metadata: ["errno": "\(errno)"])
                    pauseAccepting()
                }
                return
            }
            // The client's row in /proc/net/tcp carries its uid; no row, no service (S8).
            guard let remote = SocketAddress.of(fd: fd, remote: true), let local = SocketAddress.of(fd: fd, remote: false),
                  let uid = ProcNetTCP.ownerUID(client: remote, server: local), uid == lane.allowedUID
            else {
                logger.info("refused a TCP connection from another user")
                close(fd)
                continue
            }
            let c = FastClient(fd: fd, generation: generation(), peer: PeerCredentials(uid: uid),
                               maxHeadSize: configuration.maxHeaderSize, now: now)
            if Int(fd) >= clients.count { clients += Array(repeating: nil, count: Int(fd) + 64 - clients.count) }
            clients[Int(fd)] = c
            clientCount += 1
            c.interest = CSYSTEM_EPOLL_IN
            guard csystem_epoll_control(ep, 1, fd, CSYSTEM_EPOLL_IN, FastLaneToken.make(kind: FastLaneToken.client, fd: fd, generation: c.generation)) == 0 else {
                logger.warning("a connection could not be watched; closed", metadata: ["errno": "\(errno)"])
                clients[Int(fd)] = nil
                clientCount -= 1
                close(fd)
                continue
            }
        }
    }

    private func closeListener() {
        guard !listenerClosed else { return }
        listenerClosed = true
        close(lane.listener)
    }

    private func pauseAccepting() {
        guard listening else { return }
        listening = false
        _ = csystem_epoll_control(ep, 2, lane.listener, 0, 0)
    }

    private func resumeAccepting() {
        guard !listening, !draining else { return }
        listening = true
        _ = csystem_epoll_control(ep, 1, lane.listener, CSYSTEM_EPOLL_IN, FastLaneToken.make(kind: FastLaneToken.listener, fd: lane.listener, generation: 0))
    }

    // MARK: Client side

    private func clientReady(_ c: FastClient, _ ready: UInt32) {
        if ready & CSYSTEM_EPOLL_OUT != 0 {
            guard c.output.flush(to: c.fd) else { return closeClient(c) }
            now = .coarseNow()
            c.lastActivity = now
            clientOutputChanged(c)
            guard clients[Int(c.fd)] === c else { return }
            if c.exchange == nil, !c.lingering, c.output.bytes <= Self.highWater {
                releaseReads(c)
                serveRequests(c)
                guard clients[Int(c.fd)] === c else { return }
            }
        }
        if ready & (CSYSTEM_EPOLL_IN | CSYSTEM_EPOLL_HUP | CSYSTEM_EPOLL_ERR) != 0 {
            readClient(c)
        }
    }

    enum Received {
        case bytes(ByteBuffer)
        case wouldBlock
        case interrupted
        /// The peer closed its side.
        case closed
        case failed
    }

    /// One `read` of up to `size` bytes.
    private func receive(_ fd: Int32, _ size: Int) -> Received {
        var buffer = allocator.buffer(capacity: size)
        var result = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
            result = read(fd, raw.baseAddress, raw.count)
            return max(0, result)
        }
        if result > 0 { return .bytes(buffer) }
        if result == 0 { return .closed }
        if errno == EINTR { return .interrupted }
        return errno == EAGAIN || errno == EWOULDBLOCK ? .wouldBlock : .failed
    }

    private func readClient(_ c: FastClient) {
        reads: for _ in 0..<4 {
            let buffer: ByteBuffer
            switch receive(c.fd, Self.clientReadSize) {
            case .bytes(let bytes): buffer = bytes
            case .interrupted: continue
            case .wouldBlock: break reads
            case .closed, .failed: return closeClient(c)  // the client closed its side, or an error
            }
            if c.lingering { continue }  // read and dropped
            // (Not activity: a head trickling in must still be complete within the idle limit.)
            c.requests.append(buffer)
            if buffer.readableBytes < Self.clientReadSize { break }
        }
        guard !c.lingering else { return }
        if c.exchange == nil {
            serveRequests(c)
        } else if c.requests.unreadCount > Self.readAhead {
            holdReads(c)
        }
    }

    /// Takes the requests read so far, one at a time, while none is being served and the
    /// client takes its answers. Not reentrant: an answer given further down (a failed
    /// connect) ends its exchange, and this loop goes on with the next request.
    private func serveRequests(_ c: FastClient) {
        guard !c.serving else { return }
        c.serving = true
        defer { c.serving = false }
        while c.exchange == nil, !c.lingering, clients[Int(c.fd)] === c {
            if c.output.bytes > Self.highWater {
                // Answers the client does not read would pile up: the next request waits
                // (unread) until they drain.
                holdReads(c)
                return
            }
            let before = c.requests
            let event: ClientRequestParser.Event?
            do {
                event = try c.requests.next()
            } catch {
                return handOff(c, unread: before.unreadBytes)  // the channel path answers the refusal
            }
            guard let event else { return }
            guard case .head(let head) = event, let plan = plan(head) else { return handOff(c, unread: before.unreadBytes) }
            // A request the lane takes has no body: its end is the next event.
            guard case .end? = try? c.requests.next() else { return handOff(c, unread: before.unreadBytes) }
            c.lastActivity = now
            start(c, head, plan)
        }
    }

    private func holdReads(_ c: FastClient) {
        guard !c.readsHeld else { return }
        c.readsHeld = true
        setInterest(client: c, c.interest & ~CSYSTEM_EPOLL_IN)
    }

    private func releaseReads(_ c: FastClient) {
        guard c.readsHeld else { return }
        c.readsHeld = false
        setInterest(client: c, c.interest | CSYSTEM_EPOLL_IN)
    }

    struct Plan {
        let route: ProxyRoute
        let target: UpstreamTarget
        let address: String
        let pool: FastPool
        let token: String
        let bearer: String
    }

    /// The request when the fast lane can serve it whole; `nil` hands it to the channel path.
    private func plan(_ head: ClientRequestHead) -> Plan? {
        guard head.method == .GET, !head.hasBody,
              head.minorVersion == 1, head.isKeepAlive, head.first("expect") == nil, !draining,
              RequestScreen.check(head, listener: listenerKind, maxBodySize: configuration.maxRequestBodySize) == nil,
              let route = ProxyRoute(head), route.staysUnderBase(in: head)
        else { return nil }
        let catalog = proxy.catalog()
        let target: UpstreamTarget, address: String?, pool: FastPool
        if let cached = routeCache, cached.revision === catalog.revision, cached.name == route.name {
            (target, address, pool) = (cached.target, cached.address, cached.pool)
        } else {
            guard let connection = catalog.resolve(route.name), let resolved = try? UpstreamTarget(connection: connection) else { return nil }
            target = resolved
            address = resolved.scheme == .http && resolved.host.isNumericAddress ? resolved.host : nil
            let key = resolved.poolKey
            pool = pools[key] ?? FastPool(key: key)
            pools[key] = pool
            routeCache = (route.name, catalog.revision, target, address, pool)
        }
        guard let address,
              let token = proxy.tokens.cachedAccessToken(connection: target.connectionID, minValid: configuration.minTokenValidity),
              let bearer = bearers.header(for: token)
        else { return nil }
        return Plan(route: route, target: target, address: address, pool: pool, token: token, bearer: bearer)
    }

    private func start(_ c: FastClient, _ head: ClientRequestHead, _ plan: Plan) {
        let upstreamHead = ProxyMessages.upstreamRequestHead(head, rest: plan.route.rest, target: plan.target,
                                                            bearer: plan.bearer, allocator: allocator).head
        let clientHost = head.first("host").map(head.string) ?? "localhost"
        let x = FastExchange(head: head, name: plan.route.name, rest: plan.route.rest, target: plan.target,
                             address: plan.address, pool: plan.pool, clientHost: clientHost, token: plan.token, upstreamHead: upstreamHead, started: now)
        c.exchange = x
        if let u = plan.pool.idle.popLast() {
            idleCount -= 1
            x.reused = true
            attach(c, x, u)
        } else {
            connect(c, x)
        }
    }

    /// Ends the exchange with the agent's own answer (the local error shape).
    private func answer(_ c: FastClient, _ refusal: RequestRefusal, close: Bool) {
        if let x = c.exchange, let u = x.upstream {
            x.upstream = nil
            closeUpstream(u)
        }
        c.exchange = nil
        if close { c.closeAfterResponse = true }
        c.output.append(HTTPWire.response(allocator, minor: 1, status: Int(refusal.status.code),
                                          headers: [("Content-Type", "application/json")],
                                          body: LocalErrorBody.json(code: refusal.code, message: refusal.message),
                                          close: c.closeAfterResponse))
        guard c.output.flush(to: c.fd) else { return closeClient(c) }
        exchangeEnded(c)
    }

    /// After a response: the next request, or the end of the connection.
    private func exchangeEnded(_ c: FastClient) {
        c.lastActivity = now
        if c.closeAfterResponse { return lingerOrClose(c) }
        clientOutputChanged(c)
        guard clients[Int(c.fd)] === c else { return }
        releaseReads(c)
        serveRequests(c)
    }

    /// Registers for writability while answers wait, and holds the upstream back while
    /// too many do.
    private func clientOutputChanged(_ c: FastClient) {
        let wantOut = !c.output.isEmpty
        setInterest(client: c, wantOut ? c.interest | CSYSTEM_EPOLL_OUT : c.interest & ~CSYSTEM_EPOLL_OUT)
        if let u = c.exchange?.upstream, !u.connecting {
            let hold = c.output.bytes > Self.highWater
            setInterest(upstream: u, hold ? u.interest & ~CSYSTEM_EPOLL_IN : u.interest | CSYSTEM_EPOLL_IN)
        }
        if !wantOut, c.lingering {
            // (While the agent stops, the client is not waited for: its answers are out.)
            if draining { return closeClient(c) }
            _ = shutdown(c.fd, Int32(SHUT_WR))
        }
    }

    /// Closes the agent's side once the answers are out, then reads and drops input until
    /// the client closes or `stallTimeout` passes.
    private func lingerOrClose(_ c: FastClient) {
        c.lingering = true
        c.requests = ClientRequestParser(maxHeadSize: configuration.maxHeaderSize)
        releaseReads(c)
        clientOutputChanged(c)
    }

    /// Moves the connection to the channel path with `unread`, the bytes from the next
    /// request on; answers still queued go first.
    private func handOff(_ c: FastClient, unread: ByteBuffer?, rejected: (connection: String, token: String)? = nil) {
        if draining || lane.stopping.load(ordering: .acquiring) {
            // The channel path is draining too: the request would not be served there. The
            // answers already queued still go out, then the connection closes.
            beginDrain()
            guard clients[Int(c.fd)] === c else { return }
            if let x = c.exchange {
                c.exchange = nil
                if let u = x.upstream { x.upstream = nil; closeUpstream(u) }
            }
            return lingerOrClose(c)
        }
        if let x = c.exchange {
            c.exchange = nil
            if let u = x.upstream { x.upstream = nil; closeUpstream(u) }
        }
        _ = csystem_epoll_control(ep, 2, c.fd, 0, 0)
        clients[Int(c.fd)] = nil
        clientCount -= 1
        let handoff = FastLane.Handoff(fd: c.fd, unread: unread, unwritten: c.output.takeAll(allocator), peer: c.peer,
                                       rejected: rejected)
        lane.handedOff.add(1, ordering: .relaxed)
        if handoff.unwritten != nil { lane.handedOffWithAnswersQueued.add(1, ordering: .relaxed) }
        lane.handoff(handoff)
    }

    private func closeClient(_ c: FastClient) {
        guard clients[Int(c.fd)] === c else { return }
        if let x = c.exchange {
            c.exchange = nil
            if let u = x.upstream { x.upstream = nil; closeUpstream(u) }
        }
        clients[Int(c.fd)] = nil
        clientCount -= 1
        _ = csystem_epoll_control(ep, 2, c.fd, 0, 0)
        close(c.fd)
    }

    // MARK: Upstream side

    private func connect(_ c: FastClient, _ x: FastExchange) {
        var pending: Int32 = 0
        let fd = csystem_tcp_connect(x.address, Int32(x.target.port), &pending)
        guard fd >= 0 else {
            logger.info("upstream connect failed", metadata: ["connection": "\(x.target.connectionID)", "errno": "\(errno)"])
            return answer(c, RequestRefusal(status: .badGateway, code: "upstream_unreachable",
                message: "the Jira server \(x.target.hostHeader) could not be reached"), close: false)
        }
        let u = FastUpstream(fd: fd, generation: generation(), pool: x.pool, connecting: pending != 0,
                             maxHeadSize: max(64 * 1024, configuration.maxHeaderSize), now: now)
        if Int(fd) >= upstreams.count { upstreams += Array(repeating: nil, count: Int(fd) + 64 - upstreams.count) }
        upstreams[Int(fd)] = u
        u.interest = u.connecting ? CSYSTEM_EPOLL_OUT : CSYSTEM_EPOLL_IN
        guard csystem_epoll_control(ep, 1, fd, u.interest, FastLaneToken.make(kind: FastLaneToken.upstream, fd: fd, generation: u.generation)) == 0 else {
            upstreams[Int(fd)] = nil
            close(fd)
            logger.warning("an upstream connection could not be watched", metadata: ["errno": "\(errno)"])
            return answer(c, RequestRefusal(status: .badGateway, code: "upstream_unreachable",
                message: "the Jira server \(x.target.hostHeader) could not be reached"), close: false)
        }
        x.reused = false
        attach(c, x, u)
    }

    private func attach(_ c: FastClient, _ x: FastExchange, _ u: FastUpstream) {
        x.upstream = u
        u.client = c
        u.responses.expectResponse(toHEAD: false)
        u.output.append(x.upstreamHead)
        guard !u.connecting else { return }
        sendUpstream(u)
    }

    private func sendUpstream(_ u: FastUpstream) {
        guard u.output.flush(to: u.fd) else { return upstreamFailed(u, parseError: false) }
        setInterest(upstream: u, u.output.isEmpty ? u.interest & ~CSYSTEM_EPOLL_OUT : u.interest | CSYSTEM_EPOLL_OUT)
    }

    private func upstreamReady(_ u: FastUpstream, _ ready: UInt32) {
        // (A failed connect reports writability too; an error or hang-up alone is checked the same way.)
        if ready & CSYSTEM_EPOLL_OUT != 0 || u.connecting && ready & (CSYSTEM_EPOLL_ERR | CSYSTEM_EPOLL_HUP) != 0 {
            if u.connecting {
                guard csystem_socket_error(u.fd) == 0 else {
                    guard let c = u.client, let x = c.exchange else { return closeUpstream(u) }
                    logger.info("upstream connect failed", metadata: ["connection": "\(x.target.connectionID)"])
                    x.upstream = nil
                    closeUpstream(u)
                    return answer(c, RequestRefusal(status: .badGateway, code: "upstream_unreachable",
                        message: "the Jira server \(x.target.hostHeader) could not be reached"), close: false)
                }
                u.connecting = false
                setInterest(upstream: u, CSYSTEM_EPOLL_IN)
            }
            sendUpstream(u)
            guard upstreams[Int(u.fd)] === u else { return }
        }
        if ready & (CSYSTEM_EPOLL_IN | CSYSTEM_EPOLL_HUP | CSYSTEM_EPOLL_ERR) != 0, !u.connecting {
            readUpstream(u)
        }
    }

    private func readUpstream(_ u: FastUpstream) {
        guard u.client != nil else {
            // Pooled: the server closed it or sent bytes nobody asked for; either way it is done.
            return closeUpstream(u)
        }
        reads: for _ in 0..<4 {
            let buffer: ByteBuffer
            switch receive(u.fd, Self.upstreamReadSize) {
            case .bytes(let bytes): buffer = bytes
            case .interrupted: continue
            case .wouldBlock: break reads
            case .failed: return upstreamClosed(u)
            case .closed:
                // The end of a body delimited by the connection's end, or a failure.
                if u.client != nil, case .end? = u.responses.inputClosed(), let c = u.client, let x = c.exchange, x.upstream === u {
                    x.upstreamKeepAlive = false
                    return responseEnd(c, x, u)
                }
                return upstreamClosed(u)
            }
            u.responses.append(buffer)
            readResponse(u)
            guard upstreams[Int(u.fd)] === u, u.client != nil else { return }
            if buffer.readableBytes < Self.upstreamReadSize { break }
        }
    }

    private func readResponse(_ u: FastUpstream) {
        while let c = u.client, let x = c.exchange, x.upstream === u {
            let event: UpstreamResponseParser.Event?
            do {
                event = try u.responses.next()
            } catch {
                logger.info("upstream connection lost", metadata: ["connection": "\(x.target.connectionID)", "error": "\(error.description)"])
                return upstreamFailed(u, parseError: true)
            }
            guard let event else { return }
            // Activity is a response event: not a 1xx, not a head trickling in.
            c.lastActivity = now
            switch event {
            case .head(let head): responseHead(c, x, u, head)
            case .body(let buffer): responseBody(c, x, buffer)
            case .end: responseEnd(c, x, u)
            }
        }
    }

    private func responseHead(_ c: FastClient, _ x: FastExchange, _ u: FastUpstream, _ head: UpstreamResponseHead) {
        if head.status == 401, !draining, !lane.stopping.load(ordering: .acquiring), head.values("www-authenticate").contains(where: { $0.contains("invalid_token") }) {
            // The token was refused: the channel path refreshes it (once, shared with every
            // request that saw the same token) and sends the request — a GET — again. It gets
            // the request's head and everything read after it (the request had no body).
            // (While the agent stops, the 401 is passed on.)
            var unread = x.head.bytes
            if var after = c.requests.unreadBytes { unread.writeBuffer(&after) }
            return handOff(c, unread: unread, rejected: (x.target.connectionID, x.token))
        }
        x.upstreamKeepAlive = head.keepAlive
        if ProxyMessages.shouldRewriteBody(head, limit: configuration.maxRewriteBodySize) {
            x.phase = .buffering
            x.bufferedHead = head
            return
        }
        startStreaming(c, x, head)
    }

    private func startStreaming(_ c: FastClient, _ x: FastExchange, _ head: UpstreamResponseHead) {
        let framing = ClientFraming(streaming: head, requestMinor: 1)
        x.phase = .streaming(chunked: framing == .chunked)
        c.output.append(clientHead(c, x, head, framing))
        guard c.output.flush(to: c.fd) else { return closeClient(c) }  // the head goes out at once
        clientOutputChanged(c)
    }

    private func clientHead(_ c: FastClient, _ x: FastExchange, _ head: UpstreamResponseHead, _ framing: ClientFraming,
                            extraCapacity: Int = 0) -> ByteBuffer {
        ProxyMessages.clientResponseHead(head, requestMinor: 1, framing: framing, close: c.closeAfterResponse,
                                         links: rewriters.rewriter(clientHost: x.clientHost, name: x.name, target: x.target),
                                         basePath: x.target.basePath, name: x.name, allocator: allocator, extraCapacity: extraCapacity)
    }

    private func responseBody(_ c: FastClient, _ x: FastExchange, _ buffer: ByteBuffer) {
        switch x.phase {
        case .streaming(let chunked):
            writeBody(c, buffer, chunked: chunked)
        case .buffering:
            let collected = x.collected?.readableBytes ?? 0
            if collected + buffer.readableBytes > configuration.maxRewriteBodySize {
                // Too large to rewrite: passed on unmodified, streaming from here on.
                let head = x.bufferedHead!, earlier = x.collected
                x.bufferedHead = nil
                x.collected = nil
                startStreaming(c, x, head)
                guard clients[Int(c.fd)] === c, case .streaming(let chunked) = x.phase else { return }
                if let earlier { guard writeBody(c, earlier, chunked: chunked) else { return } }
                writeBody(c, buffer, chunked: chunked)
            } else if x.collected == nil {
                x.collected = buffer
            } else {
                var buffer = buffer
                x.collected!.writeBuffer(&buffer)
            }
        case .waiting:
            break
        }
    }

    /// `false` when the client is gone (the connection was closed).
    @discardableResult
    private func writeBody(_ c: FastClient, _ buffer: ByteBuffer, chunked: Bool) -> Bool {
        guard clients[Int(c.fd)] === c else { return false }
        guard buffer.readableBytes > 0 else { return true }
        if chunked { c.output.append(HTTPWire.chunkHeader(allocator, size: buffer.readableBytes)) }
        c.output.append(buffer)
        if chunked { c.output.append(ProxyServerHandler.crlf) }
        guard c.output.flush(to: c.fd) else {
            closeClient(c)
            return false
        }
        clientOutputChanged(c)
        return clients[Int(c.fd)] === c
    }

    private func responseEnd(_ c: FastClient, _ x: FastExchange, _ u: FastUpstream) {
        switch x.phase {
        case .buffering:
            let head = x.bufferedHead!, body = x.collected ?? allocator.buffer(capacity: 0)
            x.bufferedHead = nil
            x.collected = nil
            var rewritten = rewriters.rewriter(clientHost: x.clientHost, name: x.name, target: x.target).rewrite(body) ?? body
            if rewritten.readableBytes <= ProxyServerHandler.maxBodyWithHead {
                var out = clientHead(c, x, head, .length(rewritten.readableBytes), extraCapacity: rewritten.readableBytes)
                out.writeBuffer(&rewritten)
                c.output.append(out)
            } else {
                c.output.append(clientHead(c, x, head, .length(rewritten.readableBytes)))
                c.output.append(rewritten)
            }
        case .streaming(let chunked):
            if chunked { c.output.append(ProxyServerHandler.lastChunk) }
        case .waiting:
            break
        }
        x.upstream = nil
        u.client = nil
        if x.upstreamKeepAlive, !u.responses.hasUnreadBytes, u.output.isEmpty, !draining {
            u.idleSince = now
            setInterest(upstream: u, CSYSTEM_EPOLL_IN)
            if u.pool.idle.count < configuration.maxIdleUpstreamConnections {
                u.pool.idle.append(u)
                idleCount += 1
            } else {
                closeUpstream(u)
            }
        } else {
            closeUpstream(u)
        }
        c.exchange = nil
        lane.served.add(1, ordering: .relaxed)
        guard c.output.flush(to: c.fd) else { return closeClient(c) }
        exchangeEnded(c)
    }

    /// The upstream closed before the response ended.
    private func upstreamClosed(_ u: FastUpstream) {
        upstreamFailed(u, parseError: false)
    }

    private func upstreamFailed(_ u: FastUpstream, parseError: Bool) {
        guard let c = u.client, let x = c.exchange, x.upstream === u else { return closeUpstream(u) }
        x.upstream = nil
        closeUpstream(u)
        switch x.phase {
        case .waiting where x.reused && !x.retried && !parseError && !u.responses.receivedResponseBytes:
            // A pooled connection the server had closed: nothing of this request was
            // answered, so it goes again on a fresh connection.
            x.retried = true
            connect(c, x)
        case .waiting, .buffering:
            if !parseError {
                logger.info("upstream connection lost", metadata: ["connection": "\(x.target.connectionID)", "error": "closed"])
            }
            answer(c, RequestRefusal(status: .badGateway, code: "upstream_failed",
                message: "the connection to the Jira server \(x.target.hostHeader) failed"), close: true)
        case .streaming:
            closeClient(c)
        }
    }

    private func closeUpstream(_ u: FastUpstream) {
        guard upstreams[Int(u.fd)] === u else { return }
        upstreams[Int(u.fd)] = nil
        if u.client == nil, let i = u.pool.idle.firstIndex(where: { $0 === u }) {
            u.pool.idle.remove(at: i)
            idleCount -= 1
        }
        u.client = nil
        _ = csystem_epoll_control(ep, 2, u.fd, 0, 0)
        close(u.fd)
    }

    // MARK: Time and shutdown

    /// The limits, checked every `sweepPeriod`: an idle client or an incomplete request head
    /// after `clientIdleTimeout`; a connect after `upstreamConnectTimeout` (504); no response
    /// head after `upstreamResponseTimeout` (504); a transfer with no progress after
    /// `stallTimeout`; a lingering close after `stallTimeout`; idle upstream connections
    /// after `upstreamIdleTimeout`. The same limits as the channel path's.
    private func sweep() {
        let c = configuration
        resumeAccepting()
        for client in clients {
            guard let client else { continue }
            let quiet = now - client.lastActivity
            if client.lingering {
                if quiet >= c.stallTimeout { closeClient(client) }
                continue
            }
            guard let x = client.exchange else {
                if quiet >= c.clientIdleTimeout { closeClient(client) }
                continue
            }
            switch x.phase {
            case .waiting:
                if let u = x.upstream, u.connecting, now - u.opened >= c.upstreamConnectTimeout {
                    logger.info("upstream connect failed", metadata: ["connection": "\(x.target.connectionID)", "error": "timeout"])
                    answer(client, RequestRefusal(status: .gatewayTimeout, code: "upstream_unreachable",
                        message: "the Jira server \(x.target.hostHeader) could not be reached"), close: false)
                } else if quiet >= c.upstreamResponseTimeout {
                    answer(client, RequestRefusal(status: .gatewayTimeout, code: "upstream_timeout",
                        message: "the Jira server did not answer in time"), close: true)
                }
            case .buffering:
                if quiet >= c.stallTimeout {
                    answer(client, RequestRefusal(status: .gatewayTimeout, code: "upstream_timeout",
                        message: "the Jira server did not answer in time"), close: true)
                }
            case .streaming:
                if quiet >= c.stallTimeout { closeClient(client) }
            }
        }
        for pool in pools.values {
            for u in pool.idle where now - u.idleSince >= c.upstreamIdleTimeout { closeUpstream(u) }
        }
        if let deadline = drainDeadline, now >= deadline {
            for client in clients.compactMap({ $0 }) { closeClient(client) }
        }
    }

    /// Graceful shutdown: no new connections; idle ones close now, the others after their
    /// current response (bounded by the grace period).
    private func beginDrain() {
        guard !draining else { return }
        draining = true
        drainDeadline = now + lane.grace.withLockedValue { $0 }
        pauseAccepting()
        // New connections are refused now, not left in the backlog.
        closeListener()
        for client in clients.compactMap({ $0 }) {
            client.closeAfterResponse = true
            // Between requests: closed once its answers are out (at once when there are none).
            if client.exchange == nil { lingerOrClose(client) }
        }
        for pool in pools.values { for u in pool.idle { closeUpstream(u) } }
    }
}

extension String {
    /// A numeric IPv4 or IPv6 address: the fast lane connects to these itself; a name
    /// would need a resolver, and goes the channel path.
    var isNumericAddress: Bool {
        var address = [UInt8](repeating: 0, count: 16)
        return inet_pton(AF_INET, self, &address) == 1 || inet_pton(AF_INET6, self, &address) == 1
    }
}
