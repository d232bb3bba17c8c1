import CAgentSystem
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The client side of the fast lane: reading requests, deciding which the lane serves,
/// answers, the lingering close, and the move to the channel path.
extension FastLaneLoop {
    func clientReady(_ c: FastClient, _ ready: UInt32) {
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
    func receive(_ fd: Int32, _ size: Int) -> Received {
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

    func readClient(_ c: FastClient) {
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
    func serveRequests(_ c: FastClient) {
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

    func holdReads(_ c: FastClient) {
        guard !c.readsHeld else { return }
        c.readsHeld = true
        setInterest(client: c, c.interest & ~CSYSTEM_EPOLL_IN)
    }

    func releaseReads(_ c: FastClient) {
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
    func plan(_ head: ClientRequestHead) -> Plan? {
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
            pool = pools[key] ?? FastPool()
            pools[key] = pool
            routeCache = (route.name, catalog.revision, target, address, pool)
        }
        guard let address,
              let token = proxy.tokens.cachedAccessToken(connection: target.connectionID, minValid: configuration.minTokenValidity),
              let bearer = bearers.header(for: token)
        else { return nil }
        return Plan(route: route, target: target, address: address, pool: pool, token: token, bearer: bearer)
    }

    func start(_ c: FastClient, _ head: ClientRequestHead, _ plan: Plan) {
        let upstreamHead = ProxyMessages.upstreamRequestHead(head, rest: plan.route.rest, target: plan.target,
                                                            bearer: plan.bearer, allocator: allocator).head
        let clientHost = head.first("host").map(head.string) ?? "localhost"
        let x = FastExchange(head: head, name: plan.route.name, target: plan.target, address: plan.address, pool: plan.pool,
                             clientHost: clientHost, token: plan.token, upstreamHead: upstreamHead)
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
    func answer(_ c: FastClient, _ refusal: RequestRefusal, close: Bool) {
        abandonExchange(c)
        if close { c.closeAfterResponse = true }
        c.output.append(HTTPWire.response(allocator, minor: 1, status: Int(refusal.status.code),
                                          headers: [("Content-Type", "application/json")],
                                          body: LocalErrorBody.json(code: refusal.code, message: refusal.message),
                                          close: c.closeAfterResponse))
        guard c.output.flush(to: c.fd) else { return closeClient(c) }
        exchangeEnded(c)
    }

    /// After a response: the next request, or the end of the connection.
    func exchangeEnded(_ c: FastClient) {
        c.lastActivity = now
        if c.closeAfterResponse { return lingerOrClose(c) }
        clientOutputChanged(c)
        guard clients[Int(c.fd)] === c else { return }
        releaseReads(c)
        serveRequests(c)
    }

    /// Registers for writability while answers wait, and holds the upstream back while
    /// too many do.
    func clientOutputChanged(_ c: FastClient) {
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
    func lingerOrClose(_ c: FastClient) {
        c.lingering = true
        c.requests = ClientRequestParser(maxHeadSize: configuration.maxHeaderSize)
        releaseReads(c)
        clientOutputChanged(c)
    }

    /// Moves the connection to the channel path with `unread`, the bytes from the next
    /// request on; answers still queued go first.
    func handOff(_ c: FastClient, unread: ByteBuffer?, rejected: (connection: String, token: String)? = nil) {
        if draining || lane.stopping.load(ordering: .acquiring) {
            // The channel path is draining too: the request would not be served there. The
            // answers already queued still go out, then the connection closes.
            beginDrain()
            guard clients[Int(c.fd)] === c else { return }
            abandonExchange(c)
            return lingerOrClose(c)
        }
        abandonExchange(c)
        forget(c)
        let handoff = FastLane.Handoff(fd: c.fd, port: lane.port, unread: unread, unwritten: c.output.takeAll(allocator), peer: c.peer,
                                       rejected: rejected)
        lane.handedOff.add(1, ordering: .relaxed)
        if handoff.unwritten != nil { lane.handedOffWithAnswersQueued.add(1, ordering: .relaxed) }
        lane.handoff(handoff)
    }

    func closeClient(_ c: FastClient) {
        guard clients[Int(c.fd)] === c else { return }
        abandonExchange(c)
        forget(c)
        close(c.fd)
    }

    /// Ends the current exchange, if any, without an answer; its upstream connection, in
    /// the middle of a response or not, cannot be reused.
    func abandonExchange(_ c: FastClient) {
        guard let x = c.exchange else { return }
        c.exchange = nil
        if let u = x.upstream {
            x.upstream = nil
            closeUpstream(u)
        }
    }

    /// Takes the connection out of the loop (its descriptor stays open).
    func forget(_ c: FastClient) {
        _ = csystem_epoll_control(ep, 2, c.fd, 0, 0)
        clients[Int(c.fd)] = nil
        clientCount -= 1
    }
}
